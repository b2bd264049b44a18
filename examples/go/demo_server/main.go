// demo_server: the demo route contract (DESIGN.md §6) with squall's Go
// package; the conformance suite in tests/conformance runs against it as
// against the C and Python demos.
//
//	make examples && PORT=8888 build/examples/go/demo_server
//
// Environment (as the other demos): PORT (default 8888), SQUALL_TLS_CERT and
// SQUALL_TLS_KEY (PEM files: serve https and wss), SQUALL_IO_THREADS
// (0: the reactor on the host goroutine), SQUALL_HEADER_TIMEOUT_MS /
// SQUALL_BODY_TIMEOUT_MS / SQUALL_IDLE_TIMEOUT_MS, SQUALL_STATIC_DIR (served
// under /static/ by squall), SQUALL_WS_PING_MS / SQUALL_WS_IDLE_MS,
// SQUALL_SHUTDOWN_MS (the graceful shutdown's deadline on SIGTERM/SIGINT,
// default 5000; a second signal closes at once), SQUALL_CLUSTER=redis://...
// or rediss://... (/ws/chat spans every process joined to that Redis; GET /cluster shows
// the cluster's state and counters; each state change is printed as
// "cluster <state>"). Request bodies and WebSocket messages up to 64 MiB.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"squall"
)

const mib = 1 << 20

func envMs(name string) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		log.Fatalf("%s=%q: want milliseconds", name, v)
	}
	return time.Duration(n) * time.Millisecond
}

func text(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain")
}

var (
	argA   = regexp.MustCompile(`^[a-z0-9]+$`)
	digits = regexp.MustCompile(`^\d+$`)
)

func routes(srv *squall.Server) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		text(w)
		io.WriteString(w, "Hello, world")
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		if ct, ok := r.Header["Content-Type"]; ok {
			w.Header()["Content-Type"] = ct
		} else {
			w.Header()["Content-Type"] = nil // no type, and none sniffed
		}
		io.Copy(w, r.Body)
	})
	mux.HandleFunc("GET /args/{a}/{b}", func(w http.ResponseWriter, r *http.Request) {
		a, b := r.PathValue("a"), r.PathValue("b")
		if !argA.MatchString(a) || !digits.MatchString(b) {
			http.NotFound(w, r)
			return
		}
		text(w)
		fmt.Fprintf(w, "a=%s b=%s", a, b)
	})
	mux.HandleFunc("GET /query", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if !q.Has("name") {
			http.Error(w, "missing argument name", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		names := q["name"]
		io.WriteString(w, "name="+names[len(names)-1]) // the last one, as Tornado's get_argument
	})
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		text(w)
		for i := 0; i < 5; i++ {
			fmt.Fprintf(w, "chunk %d\n", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		ms := r.URL.Query().Get("ms")
		if !digits.MatchString(ms) || len(ms) > 9 {
			http.Error(w, "ms must be a number of milliseconds", http.StatusBadRequest)
			return
		}
		n, _ := strconv.Atoi(ms)
		done := make(chan struct{})
		if _, err := srv.AfterFunc(time.Duration(n)*time.Millisecond, func() { close(done) }); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		select {
		case <-done: // the loop's timer
		case <-r.Context().Done(): // the client left
			return
		}
		text(w)
		fmt.Fprintf(w, "slept %s", ms)
	})
	mux.HandleFunc("GET /defer", func(w http.ResponseWriter, r *http.Request) {
		// The answer is written by another goroutine while this one waits.
		done := make(chan struct{})
		go func() {
			defer close(done)
			text(w)
			io.WriteString(w, "deferred")
		}()
		<-done
	})
	mux.HandleFunc("GET /headers", func(w http.ResponseWriter, r *http.Request) {
		text(w)
		w.Header().Set("X-Echo", r.Header.Get("X-Test"))
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code := r.PathValue("code")
		if !digits.MatchString(code) {
			http.NotFound(w, r)
			return
		}
		c, _ := strconv.Atoi(code)
		if len(code) != 3 || c < 200 {
			http.Error(w, "status must have 3 digits, 200 or more", http.StatusBadRequest)
			return
		}
		text(w)
		w.WriteHeader(c)
		if c != 204 && c != 304 {
			io.WriteString(w, "status")
		}
	})
	mux.Handle("GET /metrics", srv.MetricsHandler())
	mux.HandleFunc("GET /error", func(w http.ResponseWriter, r *http.Request) {
		panic("this handler fails on purpose")
	})
	return mux
}

// sameNotFound gives unrouted paths the body the other demos (and squall
// itself) send, "404 Not Found\n", instead of ServeMux's own wording.
func sameNotFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			w = &notFoundWriter{ResponseWriter: w}
		}
		mux.ServeHTTP(w, r)
	})
}

type notFoundWriter struct {
	http.ResponseWriter
	replaced bool
}

func (w *notFoundWriter) WriteHeader(code int) {
	if code == http.StatusNotFound {
		w.replaced = true
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.ResponseWriter.WriteHeader(code)
		io.WriteString(w.ResponseWriter, "404 Not Found\n")
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *notFoundWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8888"
	}
	srv := &squall.Server{
		Addr:              "127.0.0.1:" + port,
		MaxBodyBytes:      64 * mib,
		ReadHeaderTimeout: envMs("SQUALL_HEADER_TIMEOUT_MS"),
		ReadTimeout:       envMs("SQUALL_BODY_TIMEOUT_MS"),
		IdleTimeout:       envMs("SQUALL_IDLE_TIMEOUT_MS"),
	}
	if v := os.Getenv("SQUALL_IO_THREADS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			log.Fatalf("SQUALL_IO_THREADS=%q", v)
		}
		if n == 0 {
			n = squall.HostReactor
		}
		srv.IOThreads = n
	}
	mux := routes(srv)
	if url := os.Getenv("SQUALL_CLUSTER"); url != "" {
		srv.Cluster = url
		srv.OnClusterState = func(state string) { fmt.Printf("cluster %s\n", state) }
		mux.HandleFunc("GET /cluster", func(w http.ResponseWriter, r *http.Request) {
			text(w)
			fmt.Fprintf(w, "state %s\n", srv.ClusterState())
			for _, name := range []string{"published", "outbox_full", "outbox", "received", "delivered", "echo",
				"gaps", "repeats", "junk", "oversized", "bad_topic", "reconnects", "subscribed"} {
				v, _ := srv.ClusterCounter(name)
				fmt.Fprintf(w, "%s %d\n", name, v)
			}
		})
	}
	srv.Handler = sameNotFound(mux)
	if dir := os.Getenv("SQUALL_STATIC_DIR"); dir != "" {
		if err := srv.Static("/static/", dir); err != nil {
			log.Fatal(err)
		}
	}
	wsOpts := &squall.WebSocketOptions{
		MaxMessageSize:  64 * mib,
		MaxBackpressure: 80 * mib, // room for one 64 MiB echo and then some
		PingInterval:    envMs("SQUALL_WS_PING_MS"),
		IdleTimeout:     envMs("SQUALL_WS_IDLE_MS"),
		Compression:     true, // permessage-deflate when the client offers it
	}
	srv.HandleWebSocket("/ws/echo", squall.WebSocketFuncs{
		Message: func(c *squall.Conn, typ squall.MessageType, data []byte) {
			c.WriteMessage(typ, data) // a client that does not read: the route drops what is over the limit
		},
	}, wsOpts)
	srv.HandleWebSocket("/ws/chat", squall.WebSocketFuncs{
		Open: func(c *squall.Conn) { c.Subscribe("chat") },
		Message: func(c *squall.Conn, typ squall.MessageType, data []byte) {
			if err := c.Server().Publish("chat", typ, data); errors.Is(err, squall.ErrClusterOutboxFull) {
				fmt.Fprintln(os.Stderr, "publish:", err)
			}
		},
	}, wsOpts)

	deadline := 5 * time.Second
	if d := envMs("SQUALL_SHUTDOWN_MS"); d > 0 {
		deadline = d
	}
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		go func() { // a second signal closes at once
			<-signals
			srv.Close()
		}()
		srv.Shutdown(ctx)
	}()
	// https and wss when SQUALL_TLS_CERT and SQUALL_TLS_KEY name PEM files
	cert, key := os.Getenv("SQUALL_TLS_CERT"), os.Getenv("SQUALL_TLS_KEY")
	scheme, serve := "http", srv.ListenAndServe
	if cert != "" && key != "" {
		scheme, serve = "https", func() error { return srv.ListenAndServeTLS(cert, key) }
	}
	fmt.Printf("squall demo server (Go) on %s://127.0.0.1:%s/\n", scheme, port)
	if err := serve(); !errors.Is(err, squall.ErrServerClosed) {
		var se *squall.Error
		if errors.As(err, &se) && se.Op == "cluster" { // a SQUALL_CLUSTER URL that does not parse
			fmt.Fprintln(os.Stderr, "SQUALL_CLUSTER:", err)
			os.Exit(2)
		}
		log.Fatal(err)
	}
}
