package verify

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/transport"
)

// callCounter counts the requests that reach the API server and the bytes of their
// responses, for -v and the scale benchmark. It sits inside the retrier, so every retry is
// counted as the call it is.
type callCounter struct {
	calls, bytes, retries atomic.Int64
}

func (c *callCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		c.calls.Add(1)
		resp, err := rt.RoundTrip(r)
		if err == nil && resp.Body != nil {
			resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.bytes}
		}
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// Retry bounds. A throttled or restarting API server usually recovers within seconds;
// longer outages are what --wait is for.
const (
	defaultRetries = 4
	retryBase      = 250 * time.Millisecond
	retryCap       = 4 * time.Second
	maxRetryAfter  = 30 * time.Second
)

// retrier retries verify's reads (GET only: they are idempotent and have no body to
// replay) when the API server throttles (429), is briefly unavailable (502, 503, 504, or a
// 500 that asks to be retried), or drops the connection. It honours Retry-After, otherwise
// backs off exponentially with jitter, and never waits past the request's deadline (the
// client timeout), so an unreachable cluster still fails within that timeout.
//
// client-go retries a 429 or 5xx carrying Retry-After on its own; a response the retrier
// gives up on loses that header so the two loops never multiply.
type retrier struct {
	retries int
	counter *callCounter
	// sleep waits d or until ctx is done; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

func (t *retrier) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return rt.RoundTrip(r)
		}
		delay := retryBase
		for attempt := 0; ; attempt++ {
			resp, err := rt.RoundTrip(r)
			wait, retry := retryable(r.Context(), resp, err)
			if !retry {
				return resp, err
			}
			if wait == 0 {
				wait = delay/2 + rand.N(delay/2+1)
				delay = min(2*delay, retryCap)
			}
			if attempt >= t.retries || wait > maxRetryAfter || pastDeadline(r.Context(), wait) {
				if resp != nil {
					resp.Header.Del("Retry-After")
				}
				return resp, err
			}
			if resp != nil {
				// Drain a little so the connection can be reused, then let it go.
				_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
				resp.Body.Close()
			}
			if t.counter != nil {
				t.counter.retries.Add(1)
			}
			if serr := t.sleep(r.Context(), wait); serr != nil {
				if err != nil {
					return nil, err
				}
				return nil, serr
			}
		}
	})
}

// retryable decides whether a response or transport error is worth another attempt, and
// how long the server asked to wait (0: back off on our own).
func retryable(ctx context.Context, resp *http.Response, err error) (time.Duration, bool) {
	if ctx.Err() != nil {
		return 0, false
	}
	if err != nil {
		return 0, utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) ||
			utilnet.IsProbableEOF(err) || utilnet.IsHTTP2ConnectionLost(err)
	}
	after, hasAfter := retryAfter(resp.Header.Get("Retry-After"))
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return after, true
	case http.StatusInternalServerError:
		return after, hasAfter
	}
	return 0, false
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(h string) (time.Duration, bool) {
	if h == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if at, err := http.ParseTime(h); err == nil {
		return max(time.Until(at), 0), true
	}
	return 0, false
}

func pastDeadline(ctx context.Context, wait time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < wait
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func chain(fs ...transport.WrapperFunc) transport.WrapperFunc {
	return transport.Wrappers(fs...)
}
