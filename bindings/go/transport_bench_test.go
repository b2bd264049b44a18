package squall

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestTransportClientCPU compares the client CPU per request of
// squall.Transport and net/http's Transport against a server outside this
// process (SQUALL_FETCH_BENCH_URL, e.g. a local nginx), so that all the
// process's CPU time is the client's (squall's reactor thread included).
// SQUALL_FETCH_BENCH_N requests (default 20000), 16 goroutines, keep-alive.
// Skipped without the URL: it measures, it does not check.
func TestTransportClientCPU(t *testing.T) {
	url := os.Getenv("SQUALL_FETCH_BENCH_URL")
	if url == "" {
		t.Skip("SQUALL_FETCH_BENCH_URL not set")
	}
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("SQUALL_FETCH_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	const workers = 16
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	run := func(name string, rt http.RoundTripper) {
		c := &http.Client{Transport: rt}
		get := func() error {
			resp, err := c.Get(url)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return err
		}
		for i := 0; i < 200; i++ { // warm the pool
			if err := get(); err != nil {
				t.Fatal(err)
			}
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		var failed atomic.Int64
		c0, w0 := cpu(), time.Now()
		for g := 0; g < workers; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					if get() != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		c1, w1 := cpu(), time.Now()
		per := (c1 - c0) / time.Duration(n)
		t.Logf("%-16s %d requests: %6.0f req/s wall, %v client CPU per request (%d failed)",
			name, n, float64(n)/w1.Sub(w0).Seconds(), per, failed.Load())
		fmt.Fprintf(os.Stderr, "%s\t%d\t%.0f\t%.1f\n", name, n, float64(n)/w1.Sub(w0).Seconds(), float64(per.Nanoseconds())/1000)
	}
	sq := &Transport{}
	defer sq.Close()
	run("net/http", &http.Transport{MaxIdleConnsPerHost: workers})
	run("squall.Transport", sq)
	run("net/http", &http.Transport{MaxIdleConnsPerHost: workers})
	run("squall.Transport", sq)
}
