package bundles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"bulwark.dev/bulwark/internal/exitcode"
)

// RemoteOptions say how to reach a registry.
type RemoteOptions struct {
	// Username and Password override the docker config and credential helpers.
	Username, Password string
	// Insecure allows plain HTTP to a registry that is not on loopback.
	Insecure bool
	// Progress, when set, receives a line per upload update.
	Progress io.Writer
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
}

// PushOptions add what a push writes besides the tag.
type PushOptions struct {
	RemoteOptions
	PackOptions
	// Tags are extra tags pointed at the same digest, e.g. latest.
	Tags []string
	// SemverAliases also tags MAJOR and MAJOR.MINOR for a release version.
	SemverAliases bool
}

// ParseReference reads oci://REG/REPO:TAG (as Flux writes it) or REG/REPO:TAG (as crane).
func ParseReference(ref string, opts RemoteOptions) (name.Reference, error) {
	r := strings.TrimPrefix(ref, "oci://")
	var nopts []name.Option
	if opts.Insecure || loopback(r) {
		nopts = append(nopts, name.Insecure)
	}
	parsed, err := name.ParseReference(r, nopts...)
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("bundle reference %q: %w", ref, err))
	}
	return parsed, nil
}

// ParseRepository reads oci://REG/REPO or REG/REPO.
func ParseRepository(ref string, opts RemoteOptions) (name.Repository, error) {
	r := strings.TrimPrefix(ref, "oci://")
	var nopts []name.Option
	if opts.Insecure || loopback(r) {
		nopts = append(nopts, name.Insecure)
	}
	repo, err := name.NewRepository(r, nopts...)
	if err != nil {
		return name.Repository{}, exitcode.AsBadInput(fmt.Errorf("bundle repository %q: %w", ref, err))
	}
	return repo, nil
}

// loopback reports whether the registry host is this machine, where plain HTTP is the norm.
func loopback(ref string) bool {
	host := strings.SplitN(ref, "/", 2)[0]
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (o RemoteOptions) remote(ctx context.Context) []remote.Option {
	auth := remote.WithAuthFromKeychain(authn.DefaultKeychain)
	if o.Username != "" || o.Password != "" {
		auth = remote.WithAuth(&authn.Basic{Username: o.Username, Password: o.Password})
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		auth,
		remote.WithRetryBackoff(remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 5}),
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
		remote.WithUserAgent("bulwark"),
	}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	return opts
}

// registryError turns a transport failure into an environment error that names the
// registry and never carries credentials.
func registryError(action string, ref fmt.Stringer, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			msg = fmt.Sprintf("authentication refused (HTTP %d): check docker login or --username/--password-stdin", terr.StatusCode)
		case http.StatusNotFound:
			return exitcode.AsBadInput(fmt.Errorf("%s %s: not found", action, ref))
		default:
			var codes []string
			for _, d := range terr.Errors {
				codes = append(codes, string(d.Code))
			}
			msg = fmt.Sprintf("registry answered HTTP %d %s", terr.StatusCode, strings.Join(codes, ","))
		}
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		msg = fmt.Sprintf("%s %s: %v", uerr.Op, redactURL(uerr.URL), uerr.Err)
	}
	return exitcode.AsEnvironment(fmt.Errorf("%s %s: %s", action, ref, msg))
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<url>"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

// Push packs the bundle and writes it to ref. Every blob and the manifest go in by digest
// first; only then is the tag (and any extra tag) pointed at it, so a push that fails
// midway leaves every existing tag where it was. Blobs the registry already has are not
// uploaded again.
func Push(ctx context.Context, b *Bundle, ref string, opts PushOptions) (name.Digest, error) {
	r, err := ParseReference(ref, opts.RemoteOptions)
	if err != nil {
		return name.Digest{}, err
	}
	tag, ok := r.(name.Tag)
	if !ok || !strings.Contains(strings.TrimPrefix(ref, "oci://"), ":"+tag.TagStr()) {
		return name.Digest{}, exitcode.AsBadInput(fmt.Errorf("push needs a tag: %s:VERSION", r.Context()))
	}
	img, err := Pack(b, opts.PackOptions)
	if err != nil {
		return name.Digest{}, err
	}
	dig, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	byDigest := r.Context().Digest(dig.String())
	ropts := opts.remote(ctx)
	if opts.Progress != nil {
		updates := make(chan v1.Update, 16)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for u := range updates {
				if u.Error == nil {
					fmt.Fprintf(opts.Progress, "pushing %s: %d/%d bytes\n", r.Context(), u.Complete, u.Total)
				}
			}
		}()
		defer func() { <-done }()
		ropts = append(ropts, remote.WithProgress(updates))
	}
	if err := remote.Write(byDigest, img, ropts...); err != nil {
		return name.Digest{}, registryError("pushing", r.Context(), err)
	}
	tags := append([]string{tag.TagStr()}, opts.Tags...)
	if opts.SemverAliases {
		tags = append(tags, semverAliases(b.Index.Spec.Version)...)
	}
	desc, err := remote.Get(byDigest, opts.remote(ctx)...)
	if err != nil {
		return name.Digest{}, registryError("reading back", byDigest, err)
	}
	for _, t := range tags {
		if err := remote.Tag(r.Context().Tag(t), desc, opts.remote(ctx)...); err != nil {
			return name.Digest{}, registryError("tagging", r.Context().Tag(t), err)
		}
	}
	return byDigest, nil
}

// semverAliases returns MAJOR and MAJOR.MINOR for a release version (none for prereleases).
func semverAliases(v string) []string {
	if strings.Contains(v, "-") {
		return nil
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return nil
	}
	return []string{parts[0], parts[0] + "." + parts[1]}
}

// Pull fetches a bundle, checks the artifact has the shape Bulwark writes, and unpacks it
// in memory with the limits of Unpack.
func Pull(ctx context.Context, ref string, opts RemoteOptions) (*Bundle, name.Digest, error) {
	r, err := ParseReference(ref, opts)
	if err != nil {
		return nil, name.Digest{}, err
	}
	img, err := remote.Image(r, opts.remote(ctx)...)
	if err != nil {
		return nil, name.Digest{}, registryError("pulling", r, err)
	}
	dig, err := img.Digest()
	if err != nil {
		return nil, name.Digest{}, registryError("pulling", r, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, name.Digest{}, registryError("pulling", r, err)
	}
	if err := CheckManifest(m); err != nil {
		return nil, name.Digest{}, exitcode.AsBadInput(fmt.Errorf("%s: %w", r, err))
	}
	layer, err := img.LayerByDigest(m.Layers[0].Digest)
	if err != nil {
		return nil, name.Digest{}, registryError("pulling", r, err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, name.Digest{}, registryError("pulling", r, err)
	}
	defer rc.Close()
	files, err := Unpack(rc)
	if err != nil {
		return nil, name.Digest{}, exitcode.AsBadInput(fmt.Errorf("%s: %w", r, err))
	}
	b, err := FromFiles(files)
	if err != nil {
		return nil, name.Digest{}, fmt.Errorf("%s: %w", r, err)
	}
	return b, r.Context().Digest(dig.String()), nil
}

// CheckManifest accepts exactly what Bulwark pushes, which is also what Argo CD requires:
// one content layer of an accepted media type (Argo CD allows at most 10 layers).
func CheckManifest(m *v1.Manifest) error {
	if len(m.Layers) != 1 {
		return fmt.Errorf("artifact has %d layers, a bundle has exactly one", len(m.Layers))
	}
	if m.Layers[0].MediaType != LayerMediaType {
		return fmt.Errorf("layer media type %s, want %s", m.Layers[0].MediaType, LayerMediaType)
	}
	if m.Layers[0].Size > MaxTreeBytes {
		return fmt.Errorf("layer is %d bytes, over the %d-byte limit", m.Layers[0].Size, MaxTreeBytes)
	}
	return nil
}

// Tags lists a repository's tags: semantic versions first, highest first, then the rest
// in lexical order.
func Tags(ctx context.Context, repo string, opts RemoteOptions) ([]string, error) {
	r, err := ParseRepository(repo, opts)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(r, opts.remote(ctx)...)
	if err != nil {
		return nil, registryError("listing tags of", r, err)
	}
	sortTags(tags)
	return tags, nil
}

// sortTags orders tags as Tags returns them.
func sortTags(tags []string) {
	sort.SliceStable(tags, func(i, j int) bool { return tagLess(tags[i], tags[j]) })
}

// Resolve returns the digest a reference points at.
func Resolve(ctx context.Context, ref string, opts RemoteOptions) (name.Digest, error) {
	r, err := ParseReference(ref, opts)
	if err != nil {
		return name.Digest{}, err
	}
	if d, ok := r.(name.Digest); ok {
		return d, nil
	}
	desc, err := remote.Head(r, opts.remote(ctx)...)
	if err != nil {
		return name.Digest{}, registryError("resolving", r, err)
	}
	return r.Context().Digest(desc.Digest.String()), nil
}
