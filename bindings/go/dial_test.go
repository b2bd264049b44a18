package squall

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// clientEvents records what a dialed socket's handler heard.
type clientEvents struct {
	open  chan *Conn
	msgs  chan string
	close chan string
}

func newClientEvents() *clientEvents {
	return &clientEvents{open: make(chan *Conn, 1), msgs: make(chan string, 16), close: make(chan string, 1)}
}

func (e *clientEvents) OnOpen(c *Conn) { e.open <- c }
func (e *clientEvents) OnMessage(c *Conn, typ MessageType, data []byte) {
	e.msgs <- map[MessageType]string{TextMessage: "text:", BinaryMessage: "binary:"}[typ] + string(data)
}
func (e *clientEvents) OnClose(c *Conn, code int, reason string) {
	e.close <- fmt.Sprintf("%d %s", code, reason)
}

func recvOr(t *testing.T, ch chan string, what string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s", what)
		return ""
	}
}

// squall.Dial against a WebSocket server no one here wrote
// (github.com/coder/websocket on an httptest server): the handshake with a
// subprotocol and a header, text and binary both ways, the server's
// messages, a close with its code; then a refused handshake, a refused
// port and a cancelled context. No cgo handle is left behind.
func TestDial(t *testing.T) {
	before := liveHandles.Load()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Token") != "secret" {
			http.Error(w, "no token", http.StatusForbidden)
			return
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"echo.v1"}})
		if err != nil {
			return
		}
		ctx := r.Context()
		c.Write(ctx, websocket.MessageText, []byte("hello "+c.Subprotocol()))
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			if string(data) == "bye" {
				c.Close(websocket.StatusNormalClosure, "bye to you")
				return
			}
			c.Write(ctx, typ, append([]byte("echo "), data...))
		}
	}))
	defer srv.Close()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"

	ev := newClientEvents()
	opts := &DialOptions{Header: http.Header{"X-Token": {"secret"}}}
	opts.Subprotocols = []string{"echo.v1", "other"}
	c, err := Dial(context.Background(), wsURL, ev, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := <-ev.open; got != c {
		t.Fatal("OnOpen got another Conn than Dial returned")
	}
	if c.Subprotocol() != "echo.v1" || c.Server() != nil {
		t.Fatalf("subprotocol %q, server %v", c.Subprotocol(), c.Server())
	}
	if got := recvOr(t, ev.msgs, "greeting"); got != "text:hello echo.v1" {
		t.Fatalf("greeting %q", got)
	}
	if err := c.WriteText("one"); err != nil {
		t.Fatal(err)
	}
	if got := recvOr(t, ev.msgs, "text echo"); got != "text:echo one" {
		t.Fatalf("text echo %q", got)
	}
	if err := c.WriteMessage(BinaryMessage, []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	if got := recvOr(t, ev.msgs, "binary echo"); got != "binary:echo \x00\x01\x02" {
		t.Fatalf("binary echo %q", got)
	}
	c.WriteText("bye")
	if got := recvOr(t, ev.close, "close"); got != "1000 bye to you" {
		t.Fatalf("close %q", got)
	}
	if err := c.WriteText("late"); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}

	// The server refuses the handshake (403): no handler method runs.
	ev2 := newClientEvents()
	_, err = Dial(context.Background(), wsURL, ev2, nil)
	var se *Error
	if !errors.As(err, &se) || se.Code != -17 /* SQ_ERR_PROTOCOL */ {
		t.Fatalf("refused handshake: %v", err)
	}
	// Nobody listens.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Dial(context.Background(), "ws://"+addr+"/", ev2, nil); !errors.As(err, &se) || se.Code != -15 /* SQ_ERR_CONNECT */ {
		t.Fatalf("refused port: %v", err)
	}
	// Bad input, refused before anything happens.
	if _, err := Dial(context.Background(), "http://"+addr+"/", ev2, nil); err == nil {
		t.Fatal("an http:// URL was dialed")
	}
	if _, err := Dial(context.Background(), wsURL, ev2, &DialOptions{Header: http.Header{"X-Evil": {"a\r\nb: c"}}}); err == nil {
		t.Fatal("a header with CR/LF was sent")
	}
	// A context that ends before the handshake: Dial returns its error and
	// the handler never hears of the socket.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		c, err := websocket.Accept(w, r, nil)
		if err == nil {
			c.Read(context.Background())
		}
	}))
	defer slow.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ev3 := newClientEvents()
	if _, err := Dial(ctx, "ws"+strings.TrimPrefix(slow.URL, "http")+"/", ev3, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled dial: %v", err)
	}
	select {
	case <-ev3.open:
		t.Fatal("the handler of an abandoned dial was opened")
	case <-time.After(600 * time.Millisecond):
	}
	select {
	case m := <-ev2.msgs:
		t.Fatalf("a failed dial's handler got %q", m)
	default:
	}
	deadline := time.Now().Add(5 * time.Second)
	for liveHandles.Load() != before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := liveHandles.Load(); n != before {
		t.Fatalf("cgo handles: %d before, %d after", before, n)
	}
}

// pyEchoServer is a Python `websockets` echo server on 127.0.0.1 (a port of
// its own, printed on stdout); the test skips when the package is missing.
// It answers "ext?" with the extension offer and its answer.
const pyEchoServer = `
import asyncio, sys
from websockets.asyncio.server import serve

async def echo(ws):
    async for m in ws:
        if m == "ext?":
            m = "offer=%s answer=%s" % (ws.request.headers.get("Sec-WebSocket-Extensions"),
                                        ws.response.headers.get("Sec-WebSocket-Extensions"))
        await ws.send(m)

async def main():
    async with serve(echo, "127.0.0.1", 0, max_size=2**24) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().create_future()

asyncio.run(main())
`

// startPyEcho starts pyEchoServer and returns its port.
func startPyEcho(t *testing.T) string {
	if err := exec.Command("python3", "-c", "import websockets.asyncio.server").Run(); err != nil {
		t.Skip("python3 with websockets >= 13 missing: pip install -r tests/requirements.txt")
	}
	cmd := exec.Command("python3", "-c", pyEchoServer)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the Python server said nothing: %v", err)
	}
	return strings.TrimSpace(line)
}

// squall.Dial against Python's websockets: 1 MiB binary and text messages
// echoed in order, then a close the server answers.
func TestDialPythonWebsockets(t *testing.T) {
	port := startPyEcho(t)
	ev := newClientEvents()
	c, err := Dial(context.Background(), "ws://127.0.0.1:"+port+"/", ev, nil)
	if err != nil {
		t.Fatal(err)
	}
	big := pattern(1 << 20)
	c.WriteMessage(BinaryMessage, big)
	c.WriteText("after the big one")
	if got := recvOr(t, ev.msgs, "binary echo"); got != "binary:"+string(big) {
		t.Fatalf("1 MiB echo: %d bytes", len(got)-len("binary:"))
	}
	if got := recvOr(t, ev.msgs, "text echo"); got != "text:after the big one" {
		t.Fatalf("text echo %q", got)
	}
	c.Close(CloseNormalClosure, "done")
	if got := recvOr(t, ev.close, "close"); got != "1000 done" {
		t.Fatalf("close %q", got)
	}
}

// Dial with compression offering client_no_context_takeover: Python's
// websockets takes it, and compressible messages (each compressed afresh
// by squall) come back whole, in order.
func TestDialCompressionNoContextTakeover(t *testing.T) {
	port := startPyEcho(t)
	ev := newClientEvents()
	opts := &DialOptions{WebSocketOptions: WebSocketOptions{Compression: true, CompressionClientNoContextTakeover: true}}
	c, err := Dial(context.Background(), "ws://127.0.0.1:"+port+"/", ev, opts)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteText("ext?")
	got := recvOr(t, ev.msgs, "extensions")
	if !strings.Contains(got, "offer=permessage-deflate; client_no_context_takeover") ||
		!strings.Contains(got, "answer=permessage-deflate") || !strings.Contains(strings.SplitN(got, "answer=", 2)[1], "client_no_context_takeover") {
		t.Fatalf("negotiation: %q", got)
	}
	line := strings.Repeat("the same line again and again, ", 2000)
	for i := 0; i < 3; i++ {
		c.WriteText(line + fmt.Sprint(i))
		if got := recvOr(t, ev.msgs, "echo"); got != "text:"+line+fmt.Sprint(i) {
			t.Fatalf("echo %d: %d bytes", i, len(got))
		}
	}
	c.Close(CloseNormalClosure, "done")
	recvOr(t, ev.close, "close")
}
