package verify

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// scripted answers each request with the next status (200 once the script runs out).
func scripted(t *testing.T, retryAfter string, statuses ...int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i < len(statuses) {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.WriteHeader(statuses[i])
			io.WriteString(w, "busy")
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// client returns an HTTP client through the retrier, recording the waits it asks for.
func client(retries int, waits *[]time.Duration) (*http.Client, *callCounter) {
	c := &callCounter{}
	r := &retrier{retries: retries, counter: c, sleep: func(ctx context.Context, d time.Duration) error {
		*waits = append(*waits, d)
		return ctx.Err()
	}}
	return &http.Client{Transport: r.wrap(c.wrap(http.DefaultTransport))}, c
}

func TestRetrier(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		statuses   []int
		method     string
		retries    int
		wantStatus int
		wantCalls  int32
		wantWaits  []time.Duration // nil: any backoff of the right count
	}{
		{"429 honours Retry-After", "2", []int{429}, http.MethodGet, 4, 200, 2, []time.Duration{2 * time.Second}},
		{"503 without Retry-After backs off", "", []int{503, 503}, http.MethodGet, 4, 200, 3, nil},
		{"502 and 504 are retried", "", []int{502, 504}, http.MethodGet, 4, 200, 3, nil},
		{"500 with Retry-After is retried", "0", []int{500}, http.MethodGet, 4, 200, 2, nil},
		{"500 without Retry-After is an answer", "", []int{500}, http.MethodGet, 4, 500, 1, []time.Duration{}},
		{"403 is an answer", "", []int{403}, http.MethodGet, 4, 403, 1, []time.Duration{}},
		{"writes are never retried", "1", []int{503}, http.MethodPost, 4, 503, 1, []time.Duration{}},
		{"gives up after the retries", "", []int{503, 503, 503, 503}, http.MethodGet, 2, 503, 3, nil},
		{"a Retry-After longer than verify waits is given back", "3600", []int{429}, http.MethodGet, 4, 429, 1, []time.Duration{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := scripted(t, tt.retryAfter, tt.statuses...)
			var waits []time.Duration
			c, counter := client(tt.retries, &waits)
			req, _ := http.NewRequest(tt.method, srv.URL, nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || calls.Load() != tt.wantCalls {
				t.Fatalf("status %d after %d calls, want %d after %d", resp.StatusCode, calls.Load(), tt.wantStatus, tt.wantCalls)
			}
			if tt.method == http.MethodGet && resp.StatusCode != 200 && resp.Header.Get("Retry-After") != "" {
				t.Error("a response the retrier gave up on still carries Retry-After: client-go would retry it again")
			}
			if tt.wantStatus == 200 && string(body) != "ok" {
				t.Errorf("body %q", body)
			}
			if int(counter.calls.Load()) != int(tt.wantCalls) || counter.retries.Load() != int64(len(waits)) {
				t.Errorf("counted %d calls and %d retries; %d calls reached the server, %d waits", counter.calls.Load(), counter.retries.Load(), tt.wantCalls, len(waits))
			}
			if len(waits) != int(tt.wantCalls)-1 {
				t.Errorf("%d waits for %d calls", len(waits), tt.wantCalls)
			}
			if len(tt.wantWaits) > 0 && waits[0] != tt.wantWaits[0] {
				t.Errorf("waited %v, want %v", waits, tt.wantWaits)
			}
			for _, w := range waits {
				if w > retryCap && tt.retryAfter == "" {
					t.Errorf("backoff %s over the cap %s", w, retryCap)
				}
			}
		})
	}
}

// A refused connection is retried (an API server restarting refuses for a moment), but
// never past the request's deadline: an unreachable cluster fails within the client
// timeout, with the refusal as the reason.
func TestRetrierRefusedConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens here now: connections are refused

	var waits []time.Duration
	hc, counter := client(2, &waits)
	if _, err := hc.Get("http://" + addr + "/api"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("error %v, want the connection refusal", err)
	}
	if counter.calls.Load() != 3 || len(waits) != 2 {
		t.Errorf("%d attempts, %d waits; want 3 and 2", counter.calls.Load(), len(waits))
	}

	c := &callCounter{}
	r := &retrier{retries: 1000, counter: c, sleep: sleepCtx}
	hc = &http.Client{Transport: r.wrap(c.wrap(http.DefaultTransport)), Timeout: time.Second}
	if _, err := hc.Get("http://" + addr + "/api"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("with a client timeout: error %v, want the connection refusal", err)
	}
	if c.calls.Load() >= 1000 {
		t.Errorf("%d attempts: the deadline did not stop the retries", c.calls.Load())
	}
}

func TestRetryAfter(t *testing.T) {
	for h, want := range map[string]time.Duration{"": 0, "0": 0, "7": 7 * time.Second, "-1": 0, "soon": 0} {
		if got, _ := retryAfter(h); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", h, got, want)
		}
	}
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	if got, ok := retryAfter(date); !ok || got < 80*time.Second || got > 91*time.Second {
		t.Errorf("retryAfter(%q) = %s, %v", date, got, ok)
	}
}
