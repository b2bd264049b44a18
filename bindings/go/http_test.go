package squall

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestRequestAndResponse(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		fmt.Fprintf(w, "Hello, %s", r.URL.Query().Get("name"))
	})
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		host, port, err := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintf(w, "id=%s host=%s method=%s uri=%s remote=%s:%s err=%v x=%s proto=%s",
			r.PathValue("id"), r.Host, r.Method, r.RequestURI, host, port, err, r.Header.Get("X-Test"), r.Proto)
	})
	mux.HandleFunc("GET /status/{code}", func(w http.ResponseWriter, r *http.Request) {
		var code int
		fmt.Sscan(r.PathValue("code"), &code)
		w.WriteHeader(code)
		w.Write([]byte("status"))
	})
	mux.HandleFunc("GET /sniff", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html><body>hi</body></html>"))
	})
	mux.HandleFunc("GET /twice", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(201)
		w.WriteHeader(202)            // ignored, as with net/http
		w.Header().Set("X-Late", "1") // after WriteHeader: not sent
	})
	mux.HandleFunc("GET /inject", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Bad", "a\r\nSet-Cookie: evil=1")
		w.Header().Set("Bad Name", "x")
		w.Write([]byte("fine"))
	})
	srv := &Server{Handler: mux}
	addr := start(t, srv)
	base := "http://" + addr
	c := &http.Client{}

	resp, body := get(t, c, base+"/hello?name=squall%20go")
	if resp.StatusCode != 200 || body != "Hello, squall go" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("hello: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if got := resp.Header.Values("X-Multi"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("X-Multi = %v", got)
	}
	if resp.Header.Get("Date") == "" || resp.ContentLength != int64(len(body)) {
		t.Fatalf("Date/Content-Length missing: %v", resp.Header)
	}

	// RemoteAddr carries the client's real port: the one its connection
	// was made from, as the client saw it.
	var local string
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { local = i.Conn.LocalAddr().String() }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", base+"/items/a%2Fb?q=1", nil)
	req.Header.Set("X-Test", "v1")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, lport, _ := net.SplitHostPort(local); lport == "" || lport == "0" {
		t.Fatalf("client local address %q", local)
	}
	want := fmt.Sprintf("id=a/b host=%s method=GET uri=/items/a%%2Fb?q=1 remote=%s err=<nil> x=v1 proto=HTTP/1.1", addr, local)
	if string(b) != want {
		t.Fatalf("items:\n got %q\nwant %q", b, want)
	}

	// An HTTP/1.0 request line is seen as such (r.Proto, ProtoMinor).
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /items/x HTTP/1.0\r\nHost: %s\r\n\r\n", addr)
	raw, _ := io.ReadAll(conn)
	conn.Close()
	want10 := fmt.Sprintf("remote=%s err=<nil> x= proto=HTTP/1.0", conn.LocalAddr())
	if !strings.HasSuffix(string(raw), want10) {
		t.Fatalf("HTTP/1.0 request: got %q, want it to end with %q", raw, want10)
	}

	for _, code := range []int{200, 201, 204, 304, 404, 418, 503} {
		resp, body := get(t, c, fmt.Sprintf("%s/status/%d", base, code))
		wantBody := "status"
		if code == 204 || code == 304 {
			wantBody = ""
		}
		if resp.StatusCode != code || body != wantBody {
			t.Fatalf("status %d: got %d %q", code, resp.StatusCode, body)
		}
	}
	resp, _ = get(t, c, base+"/sniff")
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("sniffed Content-Type %q", ct)
	}
	resp, _ = get(t, c, base+"/twice")
	if resp.StatusCode != 201 || resp.Header.Get("X-Late") != "" {
		t.Fatalf("twice: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body = get(t, c, base+"/inject")
	if resp.StatusCode != 200 || body != "fine" || resp.Header.Get("Set-Cookie") != "" ||
		resp.Header.Get("X-Bad") != "a  Set-Cookie: evil=1" {
		t.Fatalf("inject: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = get(t, c, base+"/nowhere")
	if resp.StatusCode != 404 {
		t.Fatalf("unrouted: %d %q", resp.StatusCode, body)
	}
	req, _ = http.NewRequest("POST", base+"/hello", nil)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") == "" {
		t.Fatalf("POST /hello: %d %v", resp.StatusCode, resp.Header)
	}
	resp, err = c.Head(base + "/hello?name=x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(b) != 0 || resp.ContentLength != int64(len("Hello, x")) {
		t.Fatalf("HEAD: %d %q len %d", resp.StatusCode, b, resp.ContentLength)
	}
}

func TestKeepAlive(t *testing.T) {
	var n atomic.Int32
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d", n.Add(1))
	})}
	addr := start(t, srv)
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var conns, reused int
	for i := 0; i < 200; i++ {
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			conns++
			if info.Reused {
				reused++
			}
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+addr+"/", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if conns != 200 || reused != 199 {
		t.Fatalf("%d requests, %d on a reused connection; want 199 reused", conns, reused)
	}
}

func TestStreamingFlush(t *testing.T) {
	next := make(chan struct{})
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stream" {
			return
		}
		f, ok := w.(http.Flusher)
		if !ok {
			t.Error("ResponseWriter is not an http.Flusher")
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		for i := 0; i < 5; i++ {
			fmt.Fprintf(w, "chunk %d\n", i)
			f.Flush()
			select { // the client must have read this chunk before the next is written
			case <-next:
			case <-time.After(10 * time.Second):
				t.Error("the client never got the flushed chunk")
				return
			}
		}
	})}
	addr := start(t, srv)
	resp, err := http.Get("http://" + addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if te := resp.TransferEncoding; len(te) != 1 || te[0] != "chunked" {
		t.Fatalf("TransferEncoding %v", te)
	}
	buf := make([]byte, 64)
	for i := 0; i < 5; i++ {
		want := fmt.Sprintf("chunk %d\n", i)
		if _, err := io.ReadFull(resp.Body, buf[:len(want)]); err != nil || string(buf[:len(want)]) != want {
			t.Fatalf("chunk %d: %q %v", i, buf[:len(want)], err)
		}
		next <- struct{}{}
	}
	if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
		t.Fatalf("after the chunks: %q %v", rest, err)
	}
}

func TestLargeBodies(t *testing.T) {
	srv := &Server{MaxBodyBytes: 32 << 20, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			w.Write(bytes.Repeat([]byte("0123456789abcdef"), 12<<20/16)) // 12 MiB, past the 1 MiB auto-flush
			return
		}
		if r.ContentLength < 0 {
			t.Errorf("ContentLength %d", r.ContentLength)
		}
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		io.Copy(w, r.Body)
	})}
	addr := start(t, srv)
	payload := make([]byte, 20<<20)
	rand.Read(payload)
	resp, err := http.Post("http://"+addr+"/echo", "application/octet-stream", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, payload) {
		t.Fatalf("echo of 20 MiB: status %d, %d bytes, equal %v, %v", resp.StatusCode, len(got), bytes.Equal(got, payload), err)
	}
	// chunked upload (no Content-Length)
	resp, err = http.Post("http://"+addr+"/echo", "application/x-test", io.MultiReader(bytes.NewReader(payload[:3<<20])))
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, payload[:3<<20]) || resp.Header.Get("Content-Type") != "application/x-test" {
		t.Fatalf("chunked echo: %d bytes, %v", len(got), resp.Header)
	}
	resp, err = http.Get("http://" + addr + "/big")
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(got) != 12<<20 || !bytes.Equal(got[:32], []byte("0123456789abcdef0123456789abcdef")) {
		t.Fatalf("12 MiB response: %d bytes", len(got))
	}
	// over MaxBodyBytes: 413 before the handler
	resp, err = http.Post("http://"+addr+"/echo", "application/octet-stream", bytes.NewReader(make([]byte, 33<<20)))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("33 MiB body: status %d, want 413", resp.StatusCode)
		}
	}
	get(t, http.DefaultClient, "http://"+addr+"/big") // still serving
}

func TestContextCancelledWhenClientLeaves(t *testing.T) {
	entered := make(chan struct{}, 1)
	cancelled := make(chan error, 1)
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			entered <- struct{}{}
			select {
			case <-r.Context().Done():
				cancelled <- r.Context().Err()
			case <-time.After(10 * time.Second):
				cancelled <- errors.New("context not cancelled")
			}
			return
		}
		if r.Context().Err() != nil {
			t.Error("a live request's context is cancelled")
		}
		w.Write([]byte("ok"))
	})}
	addr := start(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/wait", nil)
	go func() {
		<-entered
		cancel() // the client goes away
	}()
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the cancelled request succeeded")
	}
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler saw %v", err)
	}
	_, body := get(t, http.DefaultClient, "http://"+addr+"/")
	if body != "ok" {
		t.Fatalf("after the cancel: %q", body)
	}
}

func TestPanicIs500(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	srv := &Server{ErrorLog: newLogger(&mu, &logs), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			w.Header().Set("X-Half", "done")
			w.Write([]byte("partial"))
			panic("handler failed")
		case "/abort":
			panic(http.ErrAbortHandler)
		}
		w.Write([]byte("fine"))
	})}
	addr := start(t, srv)
	for i := 0; i < 20; i++ {
		resp, body := get(t, http.DefaultClient, "http://"+addr+"/panic")
		if resp.StatusCode != 500 || body != "Internal Server Error\n" || resp.Header.Get("X-Half") != "" {
			t.Fatalf("panic: %d %q %v", resp.StatusCode, body, resp.Header)
		}
	}
	resp, _ := get(t, http.DefaultClient, "http://"+addr+"/abort")
	if resp.StatusCode != 500 {
		t.Fatalf("abort: %d", resp.StatusCode)
	}
	if _, body := get(t, http.DefaultClient, "http://"+addr+"/"); body != "fine" {
		t.Fatalf("after the panics: %q", body)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "panic serving GET /panic: handler failed"); n != 20 {
		t.Fatalf("%d panics logged, want 20:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "/abort") {
		t.Fatal("http.ErrAbortHandler was logged")
	}
}

func TestShutdownWithRequestsInFlight(t *testing.T) {
	entered := make(chan struct{}, 8)
	release := make(chan struct{})
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		w.Write([]byte("done " + r.URL.Path))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	waitListening(t, addr)

	results := make(chan string, 4)
	for i := 0; i < 4; i++ {
		go func() {
			resp, err := http.Get("http://" + addr + "/slow")
			if err != nil {
				results <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- fmt.Sprintf("%d %s", resp.StatusCode, b)
		}()
	}
	for i := 0; i < 4; i++ {
		<-entered
	}
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	// new connections are refused once the listener is closed
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting after Shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with requests in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	for i := 0; i < 4; i++ {
		if r := <-results; r != "200 done /slow" {
			t.Fatalf("in-flight request: %q", r)
		}
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if err := srv.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func TestShutdownDeadlineForcesClose(t *testing.T) {
	entered := make(chan struct{})
	handlerCancelled := make(chan struct{})
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done() // never answers on its own
		close(handlerCancelled)
	})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	clientErr := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err == nil {
			resp.Body.Close()
		}
		clientErr <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := srv.Shutdown(ctx)
	// The request never finishes on its own: the shutdown runs into the
	// deadline, closes it, and says so (nil would mean a graceful end).
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 5*time.Second {
		t.Fatalf("Shutdown took %v, want about the 200ms deadline", d)
	}
	select {
	case err := <-clientErr:
		if err == nil {
			t.Fatal("the unanswered request succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the client's connection was not closed at the deadline")
	}
	select {
	case <-handlerCancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context was not cancelled by the forced close")
	}
	select {
	case err := <-served:
		if !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve: %v, want ErrServerClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
}

func TestServeRefusesNonSocketListener(t *testing.T) {
	srv := &Server{}
	if err := srv.Serve(fakeListener{}); err == nil || !strings.Contains(err.Error(), "listener") {
		t.Fatalf("Serve(fake): %v", err)
	}
}

type fakeListener struct{}

func (fakeListener) Accept() (net.Conn, error) { return nil, errors.New("no") }
func (fakeListener) Close() error              { return nil }
func (fakeListener) Addr() net.Addr            { return &net.TCPAddr{} }

func TestListenAndServeAndClose(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	srv := &Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) })}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	waitListening(t, addr)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ListenAndServe: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/"); err == nil {
		t.Fatal("still serving after Close")
	}
	bad := &Server{Addr: "127.0.0.1:notaport"}
	if err := bad.ListenAndServe(); err == nil {
		t.Fatal("a bad address was accepted")
	}
}

func TestAfterFunc(t *testing.T) {
	srv := &Server{Handler: http.NotFoundHandler()}
	fired := make(chan time.Duration, 1)
	begin := time.Now()
	if _, err := srv.AfterFunc(50*time.Millisecond, func() { fired <- time.Since(begin) }); err != nil {
		t.Fatal(err)
	}
	stopped, err := srv.AfterFunc(80*time.Millisecond, func() { t.Error("a stopped timer fired") })
	if err != nil {
		t.Fatal(err)
	}
	start(t, srv)
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop: want true once, then false")
	}
	select {
	case d := <-fired:
		if d < 50*time.Millisecond {
			t.Fatalf("fired after %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the timer never fired")
	}
	time.Sleep(150 * time.Millisecond)
}

func TestFlowLimits(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	for _, bad := range [][2]int{{100, 50}, {1 << 16, 1 << 17}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &Server{Handler: h, FlowHighWater: bad[0], FlowLowWater: bad[1]}
		err = srv.Serve(ln)
		ln.Close()
		if err == nil || !strings.Contains(err.Error(), "FlowHighWater") {
			t.Fatalf("Serve with flow limits %v: %v, want an error naming FlowHighWater", bad, err)
		}
	}
	if high, low := (&Server{FlowHighWater: 1 << 16}).flowMarks(); high != 1<<16 || low != 1<<14 {
		t.Fatalf("FlowHighWater alone: marks %d/%d, want 65536/16384", high, low)
	}
	if high, low := (&Server{}).flowMarks(); high != 1<<20 || low != 256<<10 {
		t.Fatalf("defaults: marks %d/%d", high, low)
	}
	srv := &Server{Handler: h, FlowHighWater: 1 << 16}
	base := start(t, srv)
	resp, err := http.Get("http://" + base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("body %q", body)
	}
}

func TestMetrics(t *testing.T) {
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			panic("on purpose")
		}
		w.Write([]byte("ok"))
	}), ErrorLog: log.New(io.Discard, "", 0)}
	if _, err := srv.Metrics(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Metrics before Serve: %v", err)
	}
	base := start(t, srv)
	// start's own probe is in it: wait until its response is written too
	var m0 Metrics
	for end := time.Now().Add(10 * time.Second); ; {
		var err error
		if m0, err = srv.Metrics(); err != nil {
			t.Fatal(err)
		}
		if m0.LatencyCount >= m0.RequestsGet || time.Now().After(end) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := 0; i < 10; i++ {
		resp, err := http.Get("http://" + base + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + base + "/fail")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("/fail: %d", resp.StatusCode)
	}
	var m Metrics
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m, err = srv.Metrics(); err != nil {
			t.Fatal(err)
		}
		if m.LatencyCount >= m0.LatencyCount+11 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m.RequestsGet-m0.RequestsGet != 11 || m.Responses2xx-m0.Responses2xx != 10 || m.Responses5xx != 1 ||
		m.LatencyCount-m0.LatencyCount != 11 {
		t.Fatalf("metrics after 10 GETs and a panic: %+v (before: %+v)", m, m0)
	}
	var buckets uint64
	for _, n := range m.LatencyBuckets {
		buckets += n
	}
	if buckets != m.LatencyCount {
		t.Fatalf("buckets hold %d of %d", buckets, m.LatencyCount)
	}
	text, err := srv.MetricsText()
	if err != nil || !strings.Contains(text, fmt.Sprintf("\nsquall_http_requests_total{method=\"GET\"} %d\n", m.RequestsGet)) {
		t.Fatalf("MetricsText: %v\n%s", err, text)
	}
	rec := httptest.NewRecorder()
	srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" ||
		!strings.Contains(rec.Body.String(), "# TYPE squall_connections_open gauge") {
		t.Fatalf("MetricsHandler: %d %q", rec.Code, rec.Body.String())
	}
}
