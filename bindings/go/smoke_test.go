package squall

import (
	"io"
	"net/http"
	"testing"
)

func TestSmoke(t *testing.T) {
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "Hello, world "+r.URL.Path)
	})}
	addr := start(t, srv)
	resp, err := http.Get("http://" + addr + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "Hello, world /x" {
		t.Fatalf("got %q", b)
	}
}
