package squall

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The Transport against net/http's own servers (httptest): every test
// makes its own Transport and closes it, and the cgo handles it used are
// all released by then.

func newTransport(t *testing.T, tr *Transport) *http.Client {
	t.Helper()
	before := liveHandles.Load()
	t.Cleanup(func() {
		tr.Close()
		if n := liveHandles.Load(); n != before {
			t.Errorf("cgo handles: %d before, %d after Close", before, n)
		}
	})
	return &http.Client{Transport: tr}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return string(b)
}

// pattern is n deterministic bytes that are not all alike.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*131 + i>>8)
	}
	return b
}

func TestTransportMethods(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		fmt.Fprintf(w, "%s %s %s x=%s host=%s body=%s", r.Method, r.URL.RequestURI(), r.Proto, r.Header.Get("X-Test"), r.Host, b)
	}))
	defer srv.Close()
	c := newTransport(t, &Transport{})
	for _, m := range []string{"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"} {
		var body io.Reader
		if m == "POST" || m == "PUT" || m == "PATCH" {
			body = strings.NewReader("payload-" + m)
		}
		req, _ := http.NewRequest(m, srv.URL+"/p/a%20b?q=1", body)
		req.Header.Set("X-Test", "v")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		got := readAll(t, resp)
		if resp.StatusCode != 200 || resp.Header.Get("X-Method") != m || len(resp.Header.Values("X-Multi")) != 2 {
			t.Fatalf("%s: %d %v", m, resp.StatusCode, resp.Header)
		}
		if resp.Proto != "HTTP/1.1" || resp.Request != req || resp.TLS != nil {
			t.Fatalf("%s: proto %q, request %p, TLS %v", m, resp.Proto, resp.Request, resp.TLS)
		}
		want := fmt.Sprintf("%s /p/a%%20b?q=1 HTTP/1.1 x=v host=%s body=", m, srv.Listener.Addr())
		if body != nil {
			want += "payload-" + m
		}
		if m == "HEAD" {
			want = ""
			if resp.ContentLength <= 0 {
				t.Fatalf("HEAD: ContentLength %d", resp.ContentLength)
			}
		}
		if got != want {
			t.Fatalf("%s:\n got %q\nwant %q", m, got, want)
		}
	}
	// Request.Host overrides the URL's host, as with net/http.
	req, _ := http.NewRequest("GET", srv.URL+"/h", nil)
	req.Host = "example.test"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); !strings.HasSuffix(got, "host=example.test body=") {
		t.Fatalf("Host override: %q", got)
	}
}

// A 64 MiB response read slowly: while the reader waits, squall stops
// reading, so the server gets only as far as the socket buffers allow; then
// the whole body arrives intact.
func TestTransportResponseFlowControl(t *testing.T) {
	const total = 64 << 20
	piece := pattern(1 << 20)
	var written atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(total))
		for off := 0; off < total; off += len(piece) {
			if _, err := w.Write(piece); err != nil {
				return
			}
			written.Add(int64(len(piece)))
		}
	}))
	defer srv.Close()
	c := newTransport(t, &Transport{})
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != total {
		t.Fatalf("ContentLength %d", resp.ContentLength)
	}
	first := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	// Wait until the server stops making progress.
	last := int64(-1)
	for i := 0; i < 100; i++ {
		time.Sleep(100 * time.Millisecond)
		n := written.Load()
		if n == last {
			break
		}
		last = n
	}
	stalled := written.Load()
	t.Logf("the server wrote %d of %d bytes while the reader waited", stalled, total)
	if stalled >= total/2 {
		t.Fatalf("the server wrote %d of %d bytes with nobody reading: no flow control", stalled, total)
	}
	h := sha256.New()
	h.Write(first)
	n, err := io.Copy(h, resp.Body)
	if err != nil || n+1 != total {
		t.Fatalf("read %d+1 bytes, %v", n, err)
	}
	want := sha256.New()
	for off := 0; off < total; off += len(piece) {
		want.Write(piece)
	}
	if !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Fatal("the body differs")
	}
}

// Request bodies stream: chunked when the length is unknown (the server
// sees the first piece before the client has written the second), with a
// Content-Length when known; large ones arrive intact.
func TestTransportRequestBodyStreams(t *testing.T) {
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/interactive" {
			br := bufio.NewReader(r.Body)
			line, err := br.ReadString('\n')
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			got <- line
			rest, _ := io.ReadAll(br)
			fmt.Fprintf(w, "%s|%s|te=%v cl=%d", strings.TrimSpace(line), rest, r.TransferEncoding, r.ContentLength)
			return
		}
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d %x te=%v cl=%d", n, h.Sum(nil), r.TransferEncoding, r.ContentLength)
	}))
	defer srv.Close()
	c := newTransport(t, &Transport{})

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		defer pw.Close()
		io.WriteString(pw, "first\n")
		select {
		case line := <-got:
			if line != "first\n" {
				done <- fmt.Errorf("server got %q", line)
				return
			}
		case <-time.After(10 * time.Second):
			done <- errors.New("the server never saw the first piece: the body was not streamed")
			return
		}
		io.WriteString(pw, "second")
		done <- nil
	}()
	resp, err := c.Post(srv.URL+"/interactive", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if body != "first|second|te=[chunked] cl=-1" {
		t.Fatalf("interactive upload: %q", body)
	}

	data := pattern(24 << 20)
	sum := sha256.Sum256(data)
	for _, known := range []bool{false, true} {
		var r io.Reader = io.MultiReader(bytes.NewReader(data[:len(data)/2]), bytes.NewReader(data[len(data)/2:]))
		req, _ := http.NewRequest("PUT", srv.URL+"/sum", r)
		want := fmt.Sprintf("%d %s te=[chunked] cl=-1", len(data), hex.EncodeToString(sum[:]))
		if known {
			req.ContentLength = int64(len(data))
			want = fmt.Sprintf("%d %s te=[] cl=%d", len(data), hex.EncodeToString(sum[:]), len(data))
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, resp); got != want {
			t.Fatalf("known length %v:\n got %q\nwant %q", known, got, want)
		}
	}
}

// The Transport follows no redirect; http.Client does, and CheckRedirect
// cuts them short.
func TestTransportRedirects(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
		if n > 0 {
			http.Redirect(w, r, fmt.Sprintf("/r/%d", n-1), http.StatusFound)
			return
		}
		fmt.Fprint(w, "landed")
	}))
	defer srv.Close()
	tr := &Transport{}
	c := newTransport(t, tr)

	req, _ := http.NewRequest("GET", srv.URL+"/r/3", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "/r/2" || hits.Load() != 1 {
		t.Fatalf("RoundTrip: %d %q after %d requests", resp.StatusCode, resp.Header.Get("Location"), hits.Load())
	}

	hits.Store(0)
	resp, err = c.Get(srv.URL + "/r/3")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "landed" || hits.Load() != 4 || resp.Request.URL.Path != "/r/0" {
		t.Fatalf("followed: %q after %d requests, at %s", got, hits.Load(), resp.Request.URL)
	}

	hits.Store(0)
	stop := &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 2 {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err = stop.Get(srv.URL + "/r/5")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	// via holds the requests made so far: the second redirect is not followed.
	if resp.StatusCode != 302 || hits.Load() != 2 || resp.Header.Get("Location") != "/r/3" {
		t.Fatalf("CheckRedirect: %d after %d requests, Location %q", resp.StatusCode, hits.Load(), resp.Header.Get("Location"))
	}
}

// Request.Context cancels before the head (RoundTrip returns its error) and
// mid-body (Read does); the server sees the connection go.
func TestTransportContextCancel(t *testing.T) {
	gone := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.Write([]byte("part one;"))
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
		gone <- r.URL.Path
	}))
	defer srv.Close()
	c := newTransport(t, &Transport{})

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/head", nil)
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Do(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled before the head: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	waitGone(t, gone, "/head")

	ctx, cancel = context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL+"/body", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 9)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "part one;" {
		t.Fatalf("first part: %q %v", buf, err)
	}
	cancel()
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled mid-body: Read gave %v", err)
	}
	waitGone(t, gone, "/body")

	// A context already done: nothing is sent (no connection either).
	var conns atomic.Int32
	counted := httptest.NewUnstartedServer(http.NotFoundHandler())
	counted.Config.ConnState = func(net.Conn, http.ConnState) { conns.Add(1) }
	counted.Start()
	defer counted.Close()
	req, _ = http.NewRequestWithContext(ctx, "GET", counted.URL+"/head", nil)
	if _, err := c.Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("done context: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := conns.Load(); n != 0 {
		t.Fatalf("a request whose context was done made %d connection events", n)
	}
}

func waitGone(t *testing.T, gone chan string, path string) {
	t.Helper()
	select {
	case p := <-gone:
		if p != path {
			t.Fatalf("the server saw %s go, want %s", p, path)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the server never saw the client of %s go", path)
	}
}

// ResponseHeaderTimeout and http.Client.Timeout.
func TestTransportTimeouts(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newTransport(t, &Transport{ResponseHeaderTimeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := c.Get(srv.URL)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("ResponseHeaderTimeout: %v", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
		t.Fatalf("ResponseHeaderTimeout after %v", d)
	}

	c2 := newTransport(t, &Transport{})
	c2.Timeout = 300 * time.Millisecond
	_, err = c2.Get(srv.URL)
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Client.Timeout: %v", err)
	}
}

// Keep-alive: sequential requests share one connection, counted at the
// server; MaxConnsPerHost caps parallel ones.
func TestTransportConnectionReuse(t *testing.T) {
	var conns, maxActive, active atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := active.Add(1)
		for {
			m := maxActive.Load()
			if n <= m || maxActive.CompareAndSwap(m, n) {
				break
			}
		}
		if r.URL.Query().Get("slow") != "" {
			time.Sleep(20 * time.Millisecond)
		}
		active.Add(-1)
		fmt.Fprint(w, r.URL.Query().Get("i"))
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := newTransport(t, &Transport{MaxConnsPerHost: 2})
	for i := 0; i < 20; i++ {
		resp, err := c.Get(fmt.Sprintf("%s/?i=%d", srv.URL, i))
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, resp); got != strconv.Itoa(i) {
			t.Fatalf("request %d: %q", i, got)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("20 sequential requests used %d connections", n)
	}
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(fmt.Sprintf("%s/?slow=1&i=%d", srv.URL, i))
			if err != nil {
				t.Error(err)
				return
			}
			readAll(t, resp)
		}()
	}
	wg.Wait()
	if n, m := conns.Load(), maxActive.Load(); n > 2 || m > 2 {
		t.Fatalf("MaxConnsPerHost 2: %d connections, %d requests at once", n, m)
	}
}

// 200 requests from as many goroutines, each answered with its own body.
func TestTransportConcurrent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "n=%s", r.URL.Query().Get("n"))
	}))
	defer srv.Close()
	c := newTransport(t, &Transport{})
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(fmt.Sprintf("%s/?n=%d", srv.URL, i))
			if err != nil {
				errs <- err
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(b) != fmt.Sprintf("n=%d", i) {
				errs <- fmt.Errorf("request %d: %q %v", i, b, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// writePEM writes certificates as a PEM file in dir.
func writePEM(t *testing.T, dir, name string, certs ...[]byte) string {
	t.Helper()
	var buf bytes.Buffer
	for _, der := range certs {
		pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testCA makes a CA and a server certificate it signed for 127.0.0.1 and
// localhost. (httptest.NewTLSServer's own certificate is a CA certificate
// serving as the server's, which webpki, under rustls, refuses:
// CaUsedAsEndEntity. So the tests make a proper pair.)
func testCA(t *testing.T, name string) (caDER []byte, leaf tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err = x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, srv, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return caDER, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// https against an httptest TLS server whose certificate a test CA signed:
// trusting that CA (Response.TLS filled), another CA (the handshake fails),
// the default roots (fails), and a TLSClientConfig squall cannot honour
// (refused before anything is sent).
func TestTransportTLS(t *testing.T) {
	var hits atomic.Int32
	caDER, leaf := testCA(t, "squall test CA")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprintf(w, "tls=%x", r.TLS.Version)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	good := writePEM(t, dir, "good.pem", caDER)
	c := newTransport(t, &Transport{RootCAFile: good})
	resp, err := c.Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.TLS == nil || !resp.TLS.HandshakeComplete || body != fmt.Sprintf("tls=%x", resp.TLS.Version) {
		t.Fatalf("https: %q, TLS %+v", body, resp.TLS)
	}
	if resp.TLS.Version != tls.VersionTLS13 || resp.TLS.CipherSuite == 0 || resp.TLS.ServerName != "127.0.0.1" {
		t.Fatalf("TLS state: %+v", resp.TLS)
	}

	otherDER, _ := testCA(t, "not the test CA")
	wrong := writePEM(t, dir, "wrong.pem", otherDER)
	bad := newTransport(t, &Transport{RootCAFile: wrong})
	before := hits.Load()
	_, err = bad.Get(srv.URL + "/x")
	var se *Error
	if !errors.As(err, &se) || se.Code != -16 /* SQ_ERR_TLS */ {
		t.Fatalf("wrong CA: %v", err)
	}
	// The default roots do not know httptest's CA either.
	if _, err := newTransport(t, &Transport{}).Get(srv.URL + "/x"); !errors.As(err, &se) || se.Code != -16 {
		t.Fatalf("default roots: %v", err)
	}
	pool := x509.NewCertPool()
	ca, _ := x509.ParseCertificate(caDER)
	pool.AddCert(ca)
	_, err = newTransport(t, &Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}).Get(srv.URL + "/x")
	if err == nil || !strings.Contains(err.Error(), "RootCAFile") {
		t.Fatalf("RootCAs: %v", err)
	}
	if n := hits.Load(); n != before {
		t.Fatalf("%d requests reached the server through a refused TLS setup", n-before)
	}
}

// The server closes the connection mid-body: Read fails with
// io.ErrUnexpectedEOF, as with net/http.
func TestTransportServerClosesMidBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly ten b")
		buf.Flush()
		time.Sleep(50 * time.Millisecond)
		conn.Close()
	}))
	defer srv.Close()
	c := newTransport(t, &Transport{})
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || string(b) != "only ten b" {
		t.Fatalf("got %q, %v", b, err)
	}
}

// gzip: decoded transparently by default (Uncompressed set, as net/http);
// handed back as it came with DisableCompression or the caller's own
// Accept-Encoding.
func TestTransportGzip(t *testing.T) {
	plain := strings.Repeat("squall gzip body. ", 5000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Accept-Encoding", r.Header.Get("Accept-Encoding"))
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			io.WriteString(w, plain)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		io.WriteString(zw, plain)
		zw.Close()
	}))
	defer srv.Close()

	c := newTransport(t, &Transport{})
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != plain || !resp.Uncompressed || resp.Header.Get("Content-Encoding") != "" || resp.ContentLength != -1 {
		t.Fatalf("default: %d bytes, Uncompressed %v, headers %v, ContentLength %d", len(got), resp.Uncompressed, resp.Header, resp.ContentLength)
	}
	if ae := resp.Header.Get("X-Accept-Encoding"); !strings.Contains(ae, "gzip") {
		t.Fatalf("Accept-Encoding sent: %q", ae)
	}

	raw := newTransport(t, &Transport{DisableCompression: true})
	resp, err = raw.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != plain || resp.Uncompressed || resp.Header.Get("X-Accept-Encoding") != "" {
		t.Fatalf("DisableCompression: %d bytes, Uncompressed %v, %v", len(got), resp.Uncompressed, resp.Header)
	}

	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, resp)
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Uncompressed {
		t.Fatalf("own Accept-Encoding: %v", resp.Header)
	}
	zr, err := gzip.NewReader(strings.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); string(b) != plain {
		t.Fatal("own Accept-Encoding: the gzip body does not decode to the text")
	}
}

type failingReader struct {
	left int
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, r.err
	}
	n := min(len(p), r.left)
	for i := range p[:n] {
		p[i] = 'x'
	}
	r.left -= n
	return n, nil
}

// Bad input is refused before anything is sent; a body that fails mid-read
// fails the request with its error and never reaches a handler whole.
func TestTransportBadInput(t *testing.T) {
	var hits, complete atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if _, err := io.Copy(io.Discard, r.Body); err == nil {
			complete.Add(1)
		}
	}))
	defer srv.Close()
	tr := &Transport{}
	c := newTransport(t, tr)

	for _, h := range [][2]string{{"X-Evil", "a\r\nInjected: 1"}, {"X-Evil", "a\nb"}, {"X-Nul", "a\x00b"}, {"Bad Name", "v"}, {"Bad:Name", "v"}} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header[h[0]] = []string{h[1]}
		if _, err := tr.RoundTrip(req); err == nil {
			t.Fatalf("header %q: %q was sent", h[0], h[1])
		}
	}
	for _, u := range []*url.URL{
		{Scheme: "ftp", Host: "127.0.0.1", Path: "/"},
		{Scheme: "http", Path: "/nohost"},
		{Scheme: "http", Host: "[::1", Path: "/"},
	} {
		req := &http.Request{Method: "GET", URL: u, Header: http.Header{}}
		if _, err := tr.RoundTrip(req); err == nil {
			t.Fatalf("URL %s was fetched", u)
		}
	}
	if _, err := tr.RoundTrip(&http.Request{Method: "GET"}); err == nil {
		t.Fatal("a nil URL was fetched")
	}
	if _, err := tr.RoundTrip(&http.Request{Method: "BAD METHOD", URL: &url.URL{Scheme: "http", Host: srv.Listener.Addr().String()}}); err == nil {
		t.Fatal("a bad method was sent")
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d bad requests reached the server", n)
	}

	boom := errors.New("boom")
	// Small, known length: read before sending; streamed: fails mid-way.
	for _, size := range []int{1000, 300 << 10} {
		req, _ := http.NewRequest("POST", srv.URL, io.NopCloser(&failingReader{left: size, err: boom}))
		req.ContentLength = int64(size + 10)
		_, err := c.Do(req)
		if !errors.Is(err, boom) {
			t.Fatalf("body failing after %d bytes: %v", size, err)
		}
		req, _ = http.NewRequest("POST", srv.URL, io.NopCloser(&failingReader{left: size, err: boom}))
		if _, err = c.Do(req); !errors.Is(err, boom) {
			t.Fatalf("chunked body failing after %d bytes: %v", size, err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := complete.Load(); n != 0 {
		t.Fatalf("%d failed bodies reached a handler as complete", n)
	}
	// The Transport is still good.
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
}

// Mixed traffic through one Transport while the collector runs in a loop:
// plain GETs, streamed uploads, bodies abandoned half-read and requests
// cancelled mid-body. Every answer is right, and once the Transport is
// closed it holds no cgo.Handle.
func TestTransportGCPressure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			// Read first: net/http's server is not full duplex, so an
			// echo written while reading would cut the body short.
			b, _ := io.ReadAll(r.Body)
			w.Write(b)
		case "/big":
			w.Write(pattern(256 << 10))
		default:
			fmt.Fprintf(w, "i=%s", r.URL.Query().Get("i"))
		}
	}))
	defer srv.Close()
	c := newTransport(t, &Transport{})
	stop := make(chan struct{})
	var gcs sync.WaitGroup
	gcs.Add(1)
	go func() {
		defer gcs.Done()
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	deadline := time.Now().Add(2 * time.Second)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				var err error
				switch i % 4 {
				case 0:
					var resp *http.Response
					if resp, err = c.Get(fmt.Sprintf("%s/?i=%d", srv.URL, i)); err == nil {
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if string(b) != fmt.Sprintf("i=%d", i) {
							err = fmt.Errorf("got %q", b)
						}
					}
				case 1:
					body := pattern(100<<10 + i)
					var resp *http.Response
					if resp, err = c.Post(srv.URL+"/echo", "x/y", io.MultiReader(bytes.NewReader(body))); err == nil {
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if !bytes.Equal(b, body) {
							err = fmt.Errorf("echo of %d bytes came back as %d", len(body), len(b))
						}
					}
				case 2:
					var resp *http.Response
					if resp, err = c.Get(srv.URL + "/big"); err == nil {
						io.ReadFull(resp.Body, make([]byte, 1000))
						resp.Body.Close() // abandoned half-read
					}
				case 3:
					ctx, cancel := context.WithCancel(context.Background())
					req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/big", nil)
					if resp, e := c.Do(req); e == nil {
						io.ReadFull(resp.Body, make([]byte, 1000))
						cancel()
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					cancel()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	gcs.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestTransportMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	tr := &Transport{}
	c := newTransport(t, tr)
	if m, err := tr.Metrics(); err != nil || m.ClientStarted != 0 {
		t.Fatalf("before any request: %+v, %v", m, err)
	}
	const n = 9
	for i := 0; i < n; i++ {
		path := "/ok"
		if i%3 == 0 {
			path = "/missing"
		}
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	if _, err := c.Get("http://" + closed + "/"); err == nil {
		t.Fatal("a fetch to a closed port succeeded")
	}
	m, err := tr.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if m.ClientStarted != n+1 || m.ClientResponses2xx != 6 || m.ClientResponses4xx != 3 || m.ClientFailedConnect != 1 {
		t.Fatalf("after %d fetches (3 of them 404) and a refused connect: %+v", n, m)
	}
	if m.ClientConnectionsOpened+m.ClientConnectionsReused != n+1 || m.ClientBytesIn == 0 || m.ClientBytesOut == 0 {
		t.Fatalf("connections and bytes: %+v", m)
	}
}
