package squall

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

type rawFrame struct {
	rsv1, fin bool
	opcode    byte
	payload   []byte
}

// rawDeflateFrames offers permessage-deflate with a hand-written handshake,
// sends one masked text frame and reads count frames back, headers and
// all: what a WebSocket library would hide (RSV1).
func rawDeflateFrames(t *testing.T, addr, path, text string, count int) []rawFrame {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
		path, addr, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || !strings.HasPrefix(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	data := []byte(text)
	var hdr []byte
	if len(data) < 126 {
		hdr = []byte{0x81, 0x80 | byte(len(data))}
	} else {
		hdr = []byte{0x81, 0x80 | 126, byte(len(data) >> 8), byte(len(data))}
	}
	mask := make([]byte, 4)
	rand.Read(mask)
	masked := make([]byte, len(data))
	for i, b := range data {
		masked[i] = b ^ mask[i%4]
	}
	conn.Write(append(append(hdr, mask...), masked...))
	var frames []rawFrame
	for range count {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatal(err)
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var l [2]byte
			io.ReadFull(br, l[:])
			n = uint64(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			io.ReadFull(br, l[:])
			n = binary.BigEndian.Uint64(l[:])
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, rawFrame{h[0]&0x40 != 0, h[0]&0x80 != 0, h[0] & 0x0f, p})
	}
	return frames
}

// TestWriteMessageUncompressed: with permessage-deflate negotiated, a
// message sent with WriteMessageUncompressed goes out with RSV1 clear and
// its bytes as they are; the same message through WriteMessage compresses.
func TestWriteMessageUncompressed(t *testing.T) {
	srv := &Server{Handler: http.NotFoundHandler()}
	h := WebSocketFuncs{
		Open: func(c *Conn) { c.Subscribe("secrets") },
		Message: func(c *Conn, typ MessageType, data []byte) {
			if bytes.HasPrefix(data, []byte("pub:")) {
				srv.PublishUncompressed("secrets", typ, data)
				srv.Publish("secrets", typ, data)
				return
			}
			c.WriteMessageUncompressed(typ, data)
			c.WriteMessage(typ, data)
		},
	}
	if err := srv.HandleWebSocket("/ws/secret", h, &WebSocketOptions{Compression: true}); err != nil {
		t.Fatal(err)
	}
	addr := start(t, srv)
	text := strings.Repeat("the secret sits next to what an attacker chose, ", 40)
	f := rawDeflateFrames(t, addr, "/ws/secret", text, 2)
	if f[0].rsv1 || !f[0].fin || f[0].opcode != 1 || string(f[0].payload) != text {
		t.Fatalf("uncompressed send: rsv1 %v fin %v opcode %d, %d bytes", f[0].rsv1, f[0].fin, f[0].opcode, len(f[0].payload))
	}
	if !f[1].rsv1 || f[1].opcode != 1 || len(f[1].payload) >= len(text)/4 {
		t.Fatalf("plain send: rsv1 %v opcode %d, %d bytes", f[1].rsv1, f[1].opcode, len(f[1].payload))
	}
	got, err := io.ReadAll(flate.NewReader(bytes.NewReader(append(f[1].payload, 0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff))))
	if err != nil || string(got) != text {
		t.Fatalf("inflated %d bytes, %v", len(got), err)
	}
	// through a topic: PublishUncompressed arrives plain, Publish compressed
	text = "pub:" + text
	f = rawDeflateFrames(t, addr, "/ws/secret", text, 2)
	if f[0].rsv1 || string(f[0].payload) != text {
		t.Fatalf("PublishUncompressed: rsv1 %v, %d bytes", f[0].rsv1, len(f[0].payload))
	}
	if !f[1].rsv1 || len(f[1].payload) >= len(text)/4 {
		t.Fatalf("Publish: rsv1 %v, %d bytes", f[1].rsv1, len(f[1].payload))
	}
}

// TestWebSocketDedicatedCompression: CompressionDedicated negotiates
// permessage-deflate with context takeover (no *_no_context_takeover in
// the answer) and the chosen window; many messages echo correctly, and
// bad values refuse the route.
func TestWebSocketDedicatedCompression(t *testing.T) {
	echo := WebSocketFuncs{Message: func(c *Conn, typ MessageType, data []byte) { c.WriteMessage(typ, data) }}
	srv := &Server{Handler: http.NotFoundHandler()}
	opts := &WebSocketOptions{Compression: true, CompressionDedicated: true, CompressionWindowBits: 11, CompressionMemLevel: 4, CompressionLevel: 9}
	if err := srv.HandleWebSocket("/ws/d", echo, opts); err != nil {
		t.Fatal(err)
	}
	addr := start(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/ws/d", &websocket.DialOptions{CompressionMode: websocket.CompressionContextTakeover})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(64 << 20)
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	if !strings.HasPrefix(ext, "permessage-deflate") || strings.Contains(ext, "no_context_takeover") || !strings.Contains(ext, "server_max_window_bits=11") {
		t.Fatalf("extension %q", ext)
	}
	line := `{"user":"ann","room":"lobby","text":"hello again"}`
	for i := range 300 {
		typ, m := websocket.MessageText, []byte(fmt.Sprintf("%s #%d", line, i))
		if i%3 == 0 {
			typ, m = websocket.MessageBinary, bytes.Repeat([]byte{byte(i), 1, 2, 3}, 100*(i%7+1))
		}
		if err := c.Write(ctx, typ, m); err != nil {
			t.Fatal(err)
		}
		gt, got, err := c.Read(ctx)
		if err != nil || gt != typ || !bytes.Equal(got, m) {
			t.Fatalf("message %d: type %v, %d bytes, %v", i, gt, len(got), err)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")

	bad := &Server{Handler: http.NotFoundHandler()}
	if err := bad.HandleWebSocket("/ws/bad", echo, &WebSocketOptions{Compression: true, CompressionDedicated: true, CompressionWindowBits: 8}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := bad.Serve(ln); err == nil || !strings.Contains(err.Error(), "window bits") {
		t.Fatalf("a window of 8 for the compressor: %v", err)
	}
}

// TestWebSocketDedicatedNoClientContext: a dedicated route with
// CompressionClientNoContextTakeover answers client_no_context_takeover
// although the client did not offer it, keeps its own context, and echoes
// coder/websocket's messages (compressed afresh, as told) correctly.
func TestWebSocketDedicatedNoClientContext(t *testing.T) {
	echo := WebSocketFuncs{Message: func(c *Conn, typ MessageType, data []byte) { c.WriteMessage(typ, data) }}
	srv := &Server{Handler: http.NotFoundHandler()}
	opts := &WebSocketOptions{Compression: true, CompressionDedicated: true, CompressionWindowBits: 9, CompressionMemLevel: 1,
		CompressionClientNoContextTakeover: true}
	if err := srv.HandleWebSocket("/ws/small", echo, opts); err != nil {
		t.Fatal(err)
	}
	addr := start(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/ws/small", &websocket.DialOptions{CompressionMode: websocket.CompressionContextTakeover})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	if !strings.Contains(ext, "client_no_context_takeover") || strings.Contains(ext, "server_no_context_takeover") {
		t.Fatalf("extension %q", ext)
	}
	for i := range 100 {
		m := []byte(fmt.Sprintf(`{"user":"ann","room":"lobby","text":"hello again"} #%d`, i))
		if err := c.Write(ctx, websocket.MessageText, m); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil || !bytes.Equal(got, m) {
			t.Fatalf("message %d: %q, %v", i, got, err)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
}
