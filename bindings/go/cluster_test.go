package squall

import (
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// redisServer starts Debian's redis-server (tests/redis-deps.sh) on a free
// loopback port with no persistence; it is killed by PID after the test.
func redisServer(t *testing.T) int {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server missing: run tests/redis-deps.sh")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := exec.Command("redis-cli", "-p", strconv.Itoa(port), "PING").Output()
		if strings.TrimSpace(string(out)) == "PONG" {
			return port
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not answer PING")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClusterStateAndCounters(t *testing.T) {
	port := redisServer(t)
	var mu sync.Mutex
	var states []string
	srv := &Server{
		Cluster: "redis://127.0.0.1:" + strconv.Itoa(port) + "?prefix=gotest",
		OnClusterState: func(s string) {
			mu.Lock()
			states = append(states, s)
			mu.Unlock()
		},
	}
	start(t, srv)
	deadline := time.Now().Add(10 * time.Second)
	for srv.ClusterState() != "connected" {
		if time.Now().After(deadline) {
			t.Fatalf("state %q, want connected", srv.ClusterState())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		mu.Lock()
		got := append([]string(nil), states...)
		mu.Unlock()
		if len(got) == 1 && got[0] == "connected" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("OnClusterState heard %v, want [connected]", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.Publish("room", TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := srv.ClusterCounter("published")
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("published = %d, want 1", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := srv.ClusterCounter("no such counter"); err == nil {
		t.Fatal("an unknown counter name gave no error")
	}
}

func TestClusterURLThatDoesNotParse(t *testing.T) {
	srv := &Server{Cluster: "redis://127.0.0.1:6379/notanumber"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = srv.Serve(ln)
	se, ok := err.(*Error)
	if !ok || se.Op != "cluster" || !strings.Contains(se.Message, "database") {
		t.Fatalf("Serve returned %v, want a cluster error naming the database", err)
	}
}
