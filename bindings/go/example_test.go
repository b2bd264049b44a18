package squall_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"squall"
)

// serve starts srv on a free 127.0.0.1 port and returns its address. The
// listener is listening before Serve is called, so a client may connect at
// once: squall accepts the connection when its loop starts.
func serve(srv *squall.Server) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := l.Addr().String()
	go func() {
		if err := srv.Serve(l); err != squall.ErrServerClosed {
			log.Print(err)
		}
	}()
	return addr
}

func shutdown(srv *squall.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Print(err)
	}
}

// Any http.Handler runs on squall: here a ServeMux with one route, served on
// a listener the program made, fetched with net/http's client, then shut down.
func Example() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello, %s", r.URL.Query().Get("name"))
	})
	srv := &squall.Server{Handler: mux}
	addr := serve(srv)
	defer shutdown(srv)

	resp, err := http.Get("http://" + addr + "/hello?name=gopher")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 Hello, gopher
}

// A WebSocket echo route. The handler's methods run on a goroutine of the
// socket's own, one message at a time; Conn's methods work from any goroutine.
func ExampleServer_HandleWebSocket() {
	srv := &squall.Server{Handler: http.NotFoundHandler()}
	err := srv.HandleWebSocket("/ws/echo", squall.WebSocketFuncs{
		Message: func(c *squall.Conn, typ squall.MessageType, msg []byte) {
			c.WriteMessage(typ, msg)
		},
	}, &squall.WebSocketOptions{MaxMessageSize: 1 << 20})
	if err != nil {
		log.Fatal(err)
	}
	addr := serve(srv)
	defer shutdown(srv)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws/echo", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	c.Write(ctx, websocket.MessageText, []byte("ping?"))
	_, msg, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg))
	c.Close(websocket.StatusNormalClosure, "")
	// Output: ping?
}

// Topics: a socket subscribes when it opens, and Publish (from any
// goroutine) reaches every subscriber; the fan-out is done in Rust.
func ExampleServer_Publish() {
	srv := &squall.Server{Handler: http.NotFoundHandler()}
	joined := make(chan struct{}, 1)
	srv.HandleWebSocket("/room", squall.WebSocketFuncs{
		Open: func(c *squall.Conn) {
			c.Subscribe("room")
			joined <- struct{}{}
		},
	}, nil)
	addr := serve(srv)
	defer shutdown(srv)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/room", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	<-joined
	fmt.Println("subscribers:", srv.Subscribers("room"))
	srv.Publish("room", squall.TextMessage, []byte("hello, room"))
	_, msg, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg))
	c.Close(websocket.StatusNormalClosure, "")
	// Output:
	// subscribers: 1
	// hello, room
}

// The server's counters: a snapshot as a struct, and the same in
// Prometheus' text format for a mux of the program's own.
func ExampleServer_Metrics() {
	mux := http.NewServeMux()
	srv := &squall.Server{Handler: mux}
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.Handle("GET /metrics", srv.MetricsHandler())
	addr := serve(srv)
	defer shutdown(srv)

	for i := 0; i < 3; i++ {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	m, err := srv.Metrics()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("GET requests:", m.RequestsGet)

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Header.Get("Content-Type"))
	fmt.Println(strings.Contains(string(text), "# TYPE "))
	// Output:
	// GET requests: 3
	// text/plain; version=0.0.4; charset=utf-8
	// true
}

// AfterFunc runs f on a goroutine once d has passed, timed by squall's loop.
func ExampleServer_AfterFunc() {
	srv := &squall.Server{Handler: http.NotFoundHandler()}
	serve(srv)
	defer shutdown(srv)

	done := make(chan string)
	if _, err := srv.AfterFunc(20*time.Millisecond, func() { done <- "fired" }); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-done)
	// Output: fired
}
