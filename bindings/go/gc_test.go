package squall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Traffic of every kind (requests, bodies, WebSocket messages, timers,
// topics) while the collector runs in a loop: nothing crashes, every answer
// is right, and once the server is shut down it holds no cgo.Handle.
func TestGCPressure(t *testing.T) {
	before := liveHandles.Load()
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		runtime.GC()
		fmt.Fprintf(w, "%s:%s", r.URL.Query().Get("i"), b)
	})}
	srv.HandleWebSocket("/ws", WebSocketFuncs{
		Open:    func(c *Conn) { c.Subscribe("gc") },
		Message: func(c *Conn, typ MessageType, data []byte) { c.WriteMessage(typ, data) },
	}, nil)
	var fired atomic.Int32
	ln := listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	addr := ln.Addr().String()
	waitListening(t, addr)

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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	const workers = 8
	// Each client goroutine sends at most one error and returns: room for
	// all of them, so no send blocks whatever the test does meanwhile.
	errs := make(chan error, 2*workers)
	for g := 0; g < workers; g++ {
		wg.Add(2)
		go func(g int) { // HTTP
			defer wg.Done()
			c := &http.Client{Timeout: 30 * time.Second}
			for i := 0; i < 150; i++ {
				body := fmt.Sprintf("body-%d-%d", g, i)
				resp, err := c.Post(fmt.Sprintf("http://%s/?i=%d", addr, i), "text/plain", stringsReader(body))
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := fmt.Sprintf("%d:%s", i, body); string(b) != want {
					errs <- fmt.Errorf("got %q want %q", b, want)
					return
				}
			}
		}(g)
		go func(g int) { // WebSocket echo plus timers
			defer wg.Done()
			c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
			if err != nil {
				errs <- err
				return
			}
			defer c.CloseNow()
			for i := 0; i < 200; i++ {
				msg := fmt.Sprintf("m-%d-%d", g, i)
				if i%10 == 0 {
					if tm, err := srv.AfterFunc(time.Millisecond, func() { fired.Add(1) }); err != nil {
						errs <- err
						return
					} else if i%20 == 0 {
						tm.Stop()
					}
				}
				if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
					errs <- err
					return
				}
				for {
					_, got, err := c.Read(ctx)
					if err != nil {
						errs <- err
						return
					}
					if string(got) == msg {
						break
					}
					if len(got) < 6 || string(got[:6]) != "topic " { // only published messages may come between
						errs <- fmt.Errorf("echo: got %q want %q", got, msg)
						return
					}
				}
			}
		}(g)
	}
	for i := 0; i < 50; i++ {
		srv.Publish("gc", TextMessage, []byte(fmt.Sprintf("topic %d", i)))
		time.Sleep(time.Millisecond)
	}
	clientsDone := make(chan struct{})
	go func() { wg.Wait(); close(clientsDone) }()
	select {
	case <-clientsDone:
	case <-ctx.Done():
		select {
		case err := <-errs:
			t.Fatalf("the clients did not finish within 60s; first error: %v", err)
		default:
			t.Fatal("the clients did not finish within 60s, with no error")
		}
	}
	close(stop)
	gcs.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
	if fired.Load() == 0 {
		t.Fatal("no timer fired")
	}
	if after := liveHandles.Load(); after != before {
		t.Fatalf("cgo handles: %d before, %d after the server ended", before, after)
	}
}

// A server that made a loop (AfterFunc) and was dropped unserved gives it
// back to its finalizer: the handles of its pending timers go too.
func TestUnservedServerIsFinalized(t *testing.T) {
	before := liveHandles.Load()
	func() {
		srv := &Server{}
		for i := 0; i < 10; i++ {
			if _, err := srv.AfterFunc(time.Hour, func() {}); err != nil {
				t.Fatal(err)
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for liveHandles.Load() != before {
		if time.Now().After(deadline) {
			t.Fatalf("handles: %d before, %d after the server was dropped", before, liveHandles.Load())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
