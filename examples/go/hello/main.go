// hello: the smallest squall server in Go, answering every request with
// "Hello, world" (the benchmark's counterpart of a net/http hello world).
// Usage: hello [127.0.0.1:PORT]   (SQUALL_IO_THREADS=0 runs the reactor on
// the host goroutine's thread)
package main

import (
	"log"
	"net/http"
	"os"
	"strconv"

	"squall"
)

func main() {
	addr := "127.0.0.1:18089"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	body := []byte("Hello, world")
	srv := &squall.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})}
	if v := os.Getenv("SQUALL_IO_THREADS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			log.Fatal(err)
		}
		if n == 0 {
			n = squall.HostReactor
		}
		srv.IOThreads = n
	}
	log.Fatal(srv.ListenAndServe())
}
