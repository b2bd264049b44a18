package squall

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// testCert makes a self-signed ECDSA P-256 certificate for localhost and
// 127.0.0.1 at test time (no key is committed).
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	keyDER, _ := x509.MarshalECPrivateKey(key) // SEC1
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, certFile, keyFile
}

func tlsInfoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			fmt.Fprint(w, "no TLS")
			return
		}
		fmt.Fprintf(w, "%x %x %s %s %v", r.TLS.Version, r.TLS.CipherSuite, r.TLS.ServerName, r.TLS.NegotiatedProtocol,
			r.TLS.HandshakeComplete)
	})
}

func httpsClient(pool *x509.CertPool, maxVersion uint16) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: maxVersion, NextProtos: []string{"h2", "http/1.1"}},
	}}
}

func getBody(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// serveTLS is start() over TLS: ServeTLS on a free port, shut down after the test.
func serveTLS(t *testing.T, srv *Server, certFile, keyFile string) string {
	t.Helper()
	ln := listen(t)
	addr := ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, certFile, keyFile) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("ServeTLS returned %v", err)
		}
	})
	waitListening(t, addr) // plain HTTP gets squall's 400: enough to know it listens
	return addr
}

func TestServeTLSFillsRequestTLS(t *testing.T) {
	_, pool, certFile, keyFile := testCert(t)
	addr := serveTLS(t, &Server{Handler: tlsInfoHandler()}, certFile, keyFile)
	port := addr[strings.LastIndex(addr, ":"):]
	c := httpsClient(pool, 0)
	resp, body := getBody(t, c, "https://localhost"+port+"/")
	want := fmt.Sprintf("%x %x localhost http/1.1 true", tls.VersionTLS13, resp.TLS.CipherSuite)
	if resp.TLS.Version != tls.VersionTLS13 || body != want {
		t.Fatalf("TLS 1.3: got %q (client saw version %x), want %q", body, resp.TLS.Version, want)
	}
	c12 := httpsClient(pool, tls.VersionTLS12)
	resp, body = getBody(t, c12, "https://localhost"+port+"/")
	want = fmt.Sprintf("%x %x localhost http/1.1 true", tls.VersionTLS12, resp.TLS.CipherSuite)
	if body != want {
		t.Fatalf("TLS 1.2: got %q, want %q", body, want)
	}
	// an IP address sends no SNI: the default certificate, an empty ServerName
	_, body = getBody(t, c, "https://"+addr+"/")
	if !strings.Contains(body, "  http/1.1") {
		t.Fatalf("no SNI: got %q", body)
	}
	// plain HTTP to the TLS port: 400
	r, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 400 {
		t.Fatalf("plain HTTP on the TLS port: %d", r.StatusCode)
	}
}

func TestListenAndServeTLSWithTLSConfigCertificates(t *testing.T) {
	cert, pool, _, _ := testCert(t)
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close()
	srv := &Server{Addr: addr, Handler: tlsInfoHandler(), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServeTLS("", "") }()
	defer func() {
		srv.Close()
		<-served
	}()
	waitListening(t, addr)
	_, body := getBody(t, httpsClient(pool, 0), "https://"+addr+"/")
	if !strings.HasPrefix(body, "304 ") {
		t.Fatalf("got %q", body)
	}
	// MinVersion TLS 1.3 is honoured: a TLS 1.2-only client is refused
	if _, err := httpsClient(pool, tls.VersionTLS12).Get("https://" + addr + "/"); err == nil {
		t.Fatal("a TLS 1.2 client was served by a TLS 1.3-only server")
	}
}

func TestTLSConfigThatCannotBeHonoured(t *testing.T) {
	cert, _, certFile, _ := testCert(t)
	cases := []struct {
		srv  *Server
		cert string
		key  string
		want string
	}{
		{&Server{TLSConfig: &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }}}, certFile, certFile, "GetCertificate"},
		{&Server{TLSConfig: &tls.Config{ClientAuth: tls.RequireAnyClientCert}}, certFile, certFile, "client certificates"},
		{&Server{}, certFile, "", "both certFile and keyFile"},
		{&Server{}, certFile, certFile, "private key"}, // the certificate file has no key
	}
	for _, c := range cases {
		ln := listen(t)
		err := c.srv.ServeTLS(ln, c.cert, c.key)
		ln.Close()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ServeTLS: %v, want an error containing %q", err, c.want)
		}
	}
}

// A WebSocket upgraded over TLS (wss) carries the handshake's TLS state in
// Conn.Request().TLS, as an http.Handler's request does.
func TestWebSocketOverTLSFillsRequestTLS(t *testing.T) {
	_, pool, certFile, keyFile := testCert(t)
	srv := &Server{Handler: http.NotFoundHandler()}
	seen := make(chan string, 1)
	err := srv.HandleWebSocket("/ws", WebSocketFuncs{
		Open: func(c *Conn) {
			st := c.Request().TLS
			if st == nil {
				seen <- "no TLS state"
				return
			}
			seen <- fmt.Sprintf("%x %s %s %v", st.Version, st.ServerName, st.NegotiatedProtocol, st.CipherSuite != 0)
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, srv, certFile, keyFile)
	port := addr[strings.LastIndex(addr, ":"):]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "wss://localhost"+port+"/ws", &websocket.DialOptions{HTTPClient: httpsClient(pool, 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(websocket.StatusNormalClosure, "")
	if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
		t.Fatalf("the client saw no TLS 1.3: %+v", resp.TLS)
	}
	select {
	case got := <-seen:
		// what the client agreed on (this client offers no ALPN for an upgrade)
		want := fmt.Sprintf("%x localhost %s true", resp.TLS.Version, resp.TLS.NegotiatedProtocol)
		if got != want {
			t.Fatalf("Conn.Request().TLS: got %q, want %q", got, want)
		}
	case <-ctx.Done():
		t.Fatal("no open event")
	}
}
