package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"
)

// TestServeMountsTheDashboardAndMetrics runs durable serve on a SQLite
// file: the start prints a login URL that logs a browser in, the API and
// /metrics answer with the token and refuse without it.
func TestServeMountsTheDashboardAndMetrics(t *testing.T) {
	const token = "serve-test-token-0123456789"
	f := sqliteFixture(t)
	db := f.conn[1]
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	var errOut strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- serveUntil(ctx, []string{"--db", db, "--addr", "127.0.0.1:0", "--token", token}, outW, &errOut)
		outW.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("durable serve did not stop within 20s of its context's end")
		}
	})
	lines := bufio.NewScanner(outR)
	var base, login string
	for (base == "" || login == "") && lines.Scan() {
		line := lines.Text()
		if rest, ok := strings.CutPrefix(line, "durable serve: listening on "); ok {
			base = rest
		}
		if rest, ok := strings.CutPrefix(line, "durable serve: dashboard: open "); ok {
			login = strings.TrimSuffix(rest, " to log in")
		}
	}
	go io.Copy(io.Discard, outR)
	if base == "" || login == "" {
		t.Fatalf("serve printed no address or no login URL (stderr %q)", errOut.String())
	}
	if !strings.HasPrefix(login, base+"/dashboard/login?token=") {
		t.Fatalf("login URL %q: want it under %s/dashboard/", login, base)
	}

	get := func(url string, withToken bool) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if withToken {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := get(base+"/metrics", true); resp.StatusCode != 200 || !strings.Contains(body, "durable_executions_ready") {
		t.Errorf("/metrics with the token: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(base+"/metrics", false); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d, want 401", resp.StatusCode)
	}
	if resp, body := get(base+"/v1/stats", true); resp.StatusCode != 200 {
		t.Errorf("/v1/stats: %d %q", resp.StatusCode, body)
	}
	// The login URL sets a session cookie and leads to the overview.
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar}
	resp, err := c.Get(login)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Overview") {
		t.Fatalf("following the login URL: %d, want the overview page; got %.300q", resp.StatusCode, body)
	}
}
