package verify

import (
	"io"
	"net/http"
	"sync/atomic"

	"k8s.io/client-go/transport"
)

// callCounter counts API calls and response bytes, for -v and the scale benchmark.
// Retries on 429 and 5xx with Retry-After are client-go's own (rest.Request), so every
// retry is counted as the call it is.
type callCounter struct {
	calls, bytes atomic.Int64
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

func chain(a, b transport.WrapperFunc) transport.WrapperFunc {
	return transport.Wrappers(a, b)
}
