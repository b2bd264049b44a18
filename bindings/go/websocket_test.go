package squall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func dial(t testing.TB, ctx context.Context, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	c.SetReadLimit(64 << 20)
	return c
}

type closeRecord struct {
	code   int
	reason string
}

func TestWebSocketEchoAndCloseCodes(t *testing.T) {
	closes := make(chan closeRecord, 16)
	opened := make(chan *Conn, 16)
	var order sync.Mutex
	echo := WebSocketFuncs{
		Open: func(c *Conn) { opened <- c },
		Message: func(c *Conn, typ MessageType, data []byte) {
			order.Lock()
			defer order.Unlock()
			switch string(data) {
			case "close-me":
				c.Close(4001, "asked to")
				return
			case "panic":
				panic("boom")
			}
			if err := c.WriteMessage(typ, data); err != nil && !errors.Is(err, ErrBackpressure) {
				t.Errorf("echo: %v", err)
			}
		},
		Close: func(c *Conn, code int, reason string) {
			closes <- closeRecord{code, reason}
			if err := c.WriteText("late"); !errors.Is(err, ErrClosed) {
				t.Errorf("send after close: %v", err)
			}
		},
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	srv := &Server{Handler: http.NotFoundHandler(), ErrorLog: newLogger(&mu, &logs)}
	if err := srv.HandleWebSocket("/ws/echo", echo, &WebSocketOptions{MaxMessageSize: 1 << 20, Subprotocols: []string{"chat.v2", "chat.v1"}}); err != nil {
		t.Fatal(err)
	}
	addr := start(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := "ws://" + addr + "/ws/echo?room=1"

	c := dial(t, ctx, url, &websocket.DialOptions{Subprotocols: []string{"chat.v1", "chat.v2"}, HTTPHeader: http.Header{"X-Who": {"tester"}}})
	sc := <-opened
	if sc.Subprotocol() != "chat.v1" || c.Subprotocol() != "chat.v1" { // the client's first that the route speaks
		t.Fatalf("subprotocol: server %q client %q", sc.Subprotocol(), c.Subprotocol())
	}
	if r := sc.Request(); r == nil || r.URL.Query().Get("room") != "1" || r.Header.Get("X-Who") != "tester" {
		t.Fatalf("upgrade request: %+v", r)
	}
	big := bytes.Repeat([]byte{0xfe, 0x01}, 300_000)
	msgs := []struct {
		typ  websocket.MessageType
		data []byte
	}{{websocket.MessageText, []byte("hello")}, {websocket.MessageBinary, []byte{0, 1, 2, 255}}, {websocket.MessageText, []byte("")}, {websocket.MessageBinary, big}, {websocket.MessageText, []byte("héllo wörld")}}
	for _, m := range msgs {
		if err := c.Write(ctx, m.typ, m.data); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != m.typ || !bytes.Equal(got, m.data) {
			t.Fatalf("echo of %d bytes: type %v, %d bytes, %v", len(m.data), typ, len(got), err)
		}
	}
	// the server closes with its own code
	c.Write(ctx, websocket.MessageText, []byte("close-me"))
	_, _, err := c.Read(ctx)
	if websocket.CloseStatus(err) != 4001 {
		t.Fatalf("server close: %v", err)
	}
	if r := <-closes; r.code != 4001 {
		t.Fatalf("OnClose after the server's close: %+v", r)
	}

	// the client closes with its code and reason
	c = dial(t, ctx, url, nil)
	<-opened
	if err := c.Close(4002, "client done"); err != nil {
		t.Fatal(err)
	}
	if r := <-closes; r.code != 4002 || r.reason != "client done" {
		t.Fatalf("OnClose after the client's close: %+v", r)
	}

	// a message over MaxMessageSize: 1009
	c = dial(t, ctx, url, nil)
	<-opened
	c.Write(ctx, websocket.MessageBinary, make([]byte, 1<<20+1))
	_, _, err = c.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("oversized message: %v", err)
	}
	if r := <-closes; r.code != 1009 {
		t.Fatalf("OnClose after 1009: %+v", r)
	}

	// a panicking handler: 1011, and the server goes on
	c = dial(t, ctx, url, nil)
	<-opened
	c.Write(ctx, websocket.MessageText, []byte("panic"))
	_, _, err = c.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusInternalError {
		t.Fatalf("panic: %v", err)
	}
	<-closes
	mu.Lock()
	if !strings.Contains(logs.String(), "panic in WebSocket handler (/ws/echo): boom") {
		t.Errorf("panic not logged: %s", logs.String())
	}
	mu.Unlock()

	// the connection dropped without a close frame: 1006
	c = dial(t, ctx, url, nil)
	<-opened
	c.CloseNow()
	if r := <-closes; r.code != 1006 {
		t.Fatalf("dropped connection: %+v", r)
	}
	c = dial(t, ctx, url, nil)
	c.Write(ctx, websocket.MessageText, []byte("still here"))
	if _, got, err := c.Read(ctx); err != nil || string(got) != "still here" {
		t.Fatalf("after the failures: %q %v", got, err)
	}
	c.Close(websocket.StatusNormalClosure, "")
}

func TestWebSocketOriginCheck(t *testing.T) {
	srv := &Server{Handler: http.NotFoundHandler()}
	srv.HandleWebSocket("/ws/default", WebSocketFuncs{}, nil)
	srv.HandleWebSocket("/ws/custom", WebSocketFuncs{}, &WebSocketOptions{CheckOrigin: func(r *http.Request) bool {
		if r.Header.Get("Origin") == "http://evil.example" && r.URL.Query().Get("panic") == "1" {
			panic("check failed")
		}
		return r.Header.Get("Origin") == "http://good.example"
	}})
	addr := start(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	try := func(path, origin string) int {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c, resp, err := websocket.Dial(ctx, "ws://"+addr+path, &websocket.DialOptions{HTTPHeader: h})
		if err == nil {
			c.CloseNow()
			return 101
		}
		if resp == nil {
			t.Fatalf("%s: %v", path, err)
		}
		return resp.StatusCode
	}
	cases := []struct {
		path, origin string
		want         int
	}{
		{"/ws/default", "", 101},
		{"/ws/default", "http://" + addr, 101},
		{"/ws/default", "http://evil.example", 403},
		{"/ws/custom", "http://good.example", 101},
		{"/ws/custom", "http://evil.example", 403},
		{"/ws/custom?panic=1", "http://evil.example", 403},
		{"/ws/custom", "", 403},
	}
	for _, tc := range cases {
		if got := try(tc.path, tc.origin); got != tc.want {
			t.Errorf("%s with Origin %q: %d, want %d", tc.path, tc.origin, got, tc.want)
		}
	}
}

func TestTopicBroadcastTo200Clients(t *testing.T) {
	const clients, messages = 200, 20
	var subscribed atomic.Int32
	srv := &Server{Handler: http.NotFoundHandler()}
	srv.HandleWebSocket("/ws/room", WebSocketFuncs{
		Open: func(c *Conn) {
			if err := c.Subscribe("room"); err != nil {
				t.Errorf("subscribe: %v", err)
			}
			subscribed.Add(1)
		},
		Message: func(c *Conn, typ MessageType, data []byte) {
			if string(data) == "leave" {
				c.Unsubscribe("room")
				c.WriteText("left")
				return
			}
			c.Server().Publish("room", typ, data) // a client's message to the whole room
		},
	}, nil)
	addr := start(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = dial(t, ctx, "ws://"+addr+"/ws/room", nil)
	}
	for subscribed.Load() < clients || srv.Subscribers("room") < clients {
		time.Sleep(5 * time.Millisecond)
	}
	if n := srv.Subscribers("room"); n != clients {
		t.Fatalf("Subscribers = %d", n)
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i, c := range conns {
		wg.Add(1)
		go func(i int, c *websocket.Conn) {
			defer wg.Done()
			for m := 0; m < messages+1; m++ {
				_, got, err := c.Read(ctx)
				want := fmt.Sprintf("news %d", m)
				if m == messages {
					want = "from a client"
				}
				if err != nil || string(got) != want {
					errs <- fmt.Errorf("client %d message %d: %q %v", i, m, got, err)
					return
				}
			}
		}(i, c)
	}
	for m := 0; m < messages; m++ { // from outside any handler, in order
		if err := srv.Publish("room", TextMessage, []byte(fmt.Sprintf("news %d", m))); err != nil {
			t.Fatal(err)
		}
	}
	conns[7].Write(ctx, websocket.MessageText, []byte("from a client"))
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// unsubscribe: the leaver gets nothing more
	conns[0].Write(ctx, websocket.MessageText, []byte("leave"))
	if _, got, _ := conns[0].Read(ctx); string(got) != "left" {
		t.Fatalf("leave: %q", got)
	}
	srv.Publish("room", TextMessage, []byte("after"))
	if _, got, _ := conns[1].Read(ctx); string(got) != "after" {
		t.Fatalf("after: %q", got)
	}
	rctx, rcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	if _, got, err := conns[0].Read(rctx); err == nil {
		t.Fatalf("an unsubscribed socket got %q", got)
	}
	rcancel()
	for _, c := range conns {
		c.CloseNow()
	}
	if err := srv.Publish("", TextMessage, []byte("x")); err == nil {
		t.Fatal("an empty topic was accepted")
	}
	if err := srv.Publish("room", TextMessage, []byte{0xff}); err == nil {
		t.Fatal("invalid UTF-8 text was accepted")
	}
}

func TestSendFrom50Goroutines(t *testing.T) {
	const senders, each = 50, 200
	ready := make(chan *Conn, 1)
	srv := &Server{Handler: http.NotFoundHandler()}
	srv.HandleWebSocket("/ws", WebSocketFuncs{Open: func(c *Conn) { ready <- c }}, &WebSocketOptions{MaxBackpressure: 64 << 20, HighWater: 32 << 20})
	addr := start(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := dial(t, ctx, "ws://"+addr+"/ws", nil)
	sc := <-ready
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := sc.WriteText(fmt.Sprintf("%d:%d", g, i)); err != nil && !errors.Is(err, ErrBackpressure) {
					t.Errorf("send: %v", err)
					return
				}
			}
		}(g)
	}
	next := make([]int, senders)
	for n := 0; n < senders*each; n++ {
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("after %d messages: %v", n, err)
		}
		var g, i int
		if _, err := fmt.Sscanf(string(got), "%d:%d", &g, &i); err != nil || g >= senders {
			t.Fatalf("message %q", got)
		}
		if i != next[g] { // each goroutine's messages arrive in its order
			t.Fatalf("goroutine %d: got %d, want %d", g, i, next[g])
		}
		next[g]++
	}
	wg.Wait()
	c.Close(websocket.StatusNormalClosure, "")
}

func TestBackpressureErrors(t *testing.T) {
	ready := make(chan *Conn, 1)
	drained := make(chan struct{}, 1)
	srv := &Server{Handler: http.NotFoundHandler()}
	srv.HandleWebSocket("/ws", WebSocketFuncs{
		Open:  func(c *Conn) { ready <- c },
		Drain: func(c *Conn) { drained <- struct{}{} },
	}, &WebSocketOptions{HighWater: 64 << 10, MaxBackpressure: 1 << 20})
	addr := start(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := dial(t, ctx, "ws://"+addr+"/ws", nil) // a client that does not read
	sc := <-ready
	chunk := make([]byte, 32<<10)
	var sawBackpressure, sawDropped bool
	for i := 0; i < 2000 && !sawDropped; i++ {
		switch err := sc.WriteMessage(BinaryMessage, chunk); {
		case err == nil:
		case errors.Is(err, ErrBackpressure):
			sawBackpressure = true
		case errors.Is(err, ErrDropped):
			sawDropped = true
		default:
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if !sawBackpressure || !sawDropped {
		t.Fatalf("backpressure %v, dropped %v (buffered %d)", sawBackpressure, sawDropped, sc.BufferedAmount())
	}
	go func() { // now read everything: the socket drains
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
	// OnDrain may also have come early (the kernel's buffers took some of
	// the output before the client stopped reading): wait for the socket's
	// output to be gone, then for at least one OnDrain.
	for sc.BufferedAmount() > 0 {
		if ctx.Err() != nil {
			t.Fatalf("output never drained: %d bytes buffered", sc.BufferedAmount())
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-drained:
	case <-ctx.Done():
		t.Fatal("OnDrain never came")
	}
	if err := sc.WriteText("ok again"); err != nil {
		t.Fatalf("after the drain: %v", err)
	}
	c.CloseNow()
}

func TestShutdownClosesWebSocketsWith1001(t *testing.T) {
	srv := &Server{Handler: http.NotFoundHandler()}
	closed := make(chan int, 4)
	opened := make(chan struct{}, 4)
	srv.HandleWebSocket("/ws", WebSocketFuncs{
		Open:  func(c *Conn) { opened <- struct{}{} },
		Close: func(c *Conn, code int, reason string) { closed <- code },
	}, nil)
	ln := listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	waitListening(t, ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var clients []*websocket.Conn
	for i := 0; i < 3; i++ {
		clients = append(clients, dial(t, ctx, "ws://"+ln.Addr().String()+"/ws", nil))
		<-opened
	}
	results := make(chan websocket.StatusCode, 3)
	for _, c := range clients {
		go func(c *websocket.Conn) {
			_, _, err := c.Read(ctx) // answers the server's close frame
			results <- websocket.CloseStatus(err)
		}(c)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if code := <-results; code != websocket.StatusGoingAway {
			t.Fatalf("client saw %v, want 1001", code)
		}
		if code := <-closed; code != 1001 && code != 1000 {
			t.Fatalf("OnClose code %d", code)
		}
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatal(err)
	}
}

// TestWebSocketPermessageDeflate: coder/websocket offers permessage-deflate
// (both its modes); a route with Compression accepts it in squall's shared
// mode (no context takeover either way) and echoes compressed messages; a
// route without it declines the same offer.
func TestWebSocketPermessageDeflate(t *testing.T) {
	echo := WebSocketFuncs{Message: func(c *Conn, typ MessageType, data []byte) { c.WriteMessage(typ, data) }}
	srv := &Server{Handler: http.NotFoundHandler()}
	if err := srv.HandleWebSocket("/ws/z", echo, &WebSocketOptions{Compression: true}); err != nil {
		t.Fatal(err)
	}
	if err := srv.HandleWebSocket("/ws/plain", echo, nil); err != nil {
		t.Fatal(err)
	}
	addr := start(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	json := []byte(strings.Repeat(`{"user":"ann","room":"lobby","text":"hello again"},`, 2000))
	msgs := []struct {
		typ  websocket.MessageType
		data []byte
	}{{websocket.MessageText, json}, {websocket.MessageBinary, bytes.Repeat([]byte{1, 2, 3, 4}, 50_000)}, {websocket.MessageText, []byte("short")}}
	for _, tc := range []struct {
		path string
		mode websocket.CompressionMode
		want string
	}{
		{"/ws/z", websocket.CompressionNoContextTakeover, "permessage-deflate"},
		{"/ws/z", websocket.CompressionContextTakeover, "permessage-deflate"},
		{"/ws/plain", websocket.CompressionNoContextTakeover, ""},
	} {
		c, resp, err := websocket.Dial(ctx, "ws://"+addr+tc.path, &websocket.DialOptions{CompressionMode: tc.mode})
		if err != nil {
			t.Fatalf("dial %s: %v", tc.path, err)
		}
		c.SetReadLimit(64 << 20)
		ext := resp.Header.Get("Sec-WebSocket-Extensions")
		if !strings.HasPrefix(ext, tc.want) || (tc.want == "" && ext != "") {
			t.Fatalf("%s mode %v: extension %q", tc.path, tc.mode, ext)
		}
		if tc.want != "" && !strings.Contains(ext, "server_no_context_takeover") {
			t.Fatalf("shared mode keeps no context: %q", ext)
		}
		for _, m := range msgs {
			if err := c.Write(ctx, m.typ, m.data); err != nil {
				t.Fatal(err)
			}
			typ, got, err := c.Read(ctx)
			if err != nil || typ != m.typ || !bytes.Equal(got, m.data) {
				t.Fatalf("%s: echo of %d bytes: type %v, %d bytes, %v", tc.path, len(m.data), typ, len(got), err)
			}
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
}
