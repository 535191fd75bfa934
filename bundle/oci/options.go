package oci

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bulwark.dev/bulwark/internal/exitcode"
)

// Client talks to OCI registries with one set of connection options: credentials, plain
// HTTP, transport, progress and retries. It is safe for concurrent use.
type Client struct {
	username, password string
	insecure           bool
	progress           io.Writer
	transport          http.RoundTripper
	backoff            remote.Backoff
}

// Option configures a Client.
type Option func(*Client)

// WithBasicAuth uses these credentials instead of the docker config and credential helpers.
func WithBasicAuth(username, password string) Option {
	return func(c *Client) { c.username, c.password = username, password }
}

// WithInsecure allows plain HTTP to a registry that is not on loopback (registries on
// loopback are always reached over plain HTTP).
func WithInsecure(insecure bool) Option { return func(c *Client) { c.insecure = insecure } }

// WithProgress writes a short line per step (blob, manifest, tags, pull) to w.
func WithProgress(w io.Writer) Option { return func(c *Client) { c.progress = w } }

// WithTransport sends requests through rt instead of the default transport.
func WithTransport(rt http.RoundTripper) Option { return func(c *Client) { c.transport = rt } }

// WithRetryBackoff replaces the retry schedule of transient failures.
func WithRetryBackoff(b remote.Backoff) Option { return func(c *Client) { c.backoff = b } }

// retryBackoff spreads five attempts over about 7.5 s: long enough for a registry restart
// or a rate limit window, short enough for CI to fail in reasonable time.
var retryBackoff = remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 5}

// New returns a Client: the docker config's credentials, TLS except on loopback, no
// progress, and retries of transient failures over about 7.5 s, unless options say otherwise.
// Options that contradict each other are refused here, in one place.
func New(opts ...Option) (*Client, error) {
	c := &Client{backoff: retryBackoff}
	for _, o := range opts {
		o(c)
	}
	if c.password != "" && c.username == "" {
		return nil, exitcode.AsBadInput(errors.New("a registry password needs a username"))
	}
	if c.backoff.Steps < 1 {
		return nil, exitcode.AsBadInput(errors.New("a retry schedule needs at least one step"))
	}
	return c, nil
}

// RemoteOptions are the go-containerregistry options of this client, for packages (such
// as bundle/signature) that read and write other artifacts through it.
func (c *Client) RemoteOptions(ctx context.Context) []remote.Option {
	auth := remote.WithAuthFromKeychain(authn.DefaultKeychain)
	if c.username != "" || c.password != "" {
		auth = remote.WithAuth(&authn.Basic{Username: c.username, Password: c.password})
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		auth,
		remote.WithRetryBackoff(c.backoff),
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
		remote.WithUserAgent("bulwark"),
	}
	if c.transport != nil {
		opts = append(opts, remote.WithTransport(c.transport))
	}
	return opts
}
