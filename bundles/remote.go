package bundles

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
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
	// Progress, when set, receives a short line per step (blob, manifest, tags).
	Progress io.Writer
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper

	// backoff overrides the retry schedule (tests that inject failures).
	backoff *remote.Backoff
}

// PushOptions add what a push writes besides the tag.
type PushOptions struct {
	RemoteOptions
	PackOptions
	// Tags are extra tags pointed at the same digest, e.g. latest.
	Tags []string
	// SemverAliases also tags MAJOR and MAJOR.MINOR of a release version (never of a
	// prerelease), each only if the repository holds no higher release it would cover.
	SemverAliases bool
}

// retryBackoff spreads five attempts over about 7.5 s: long enough for a registry restart
// or a rate limit window, short enough for CI to fail in reasonable time.
var retryBackoff = remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 5}

// cleanRef strips the oci:// scheme Flux uses; crane's bare form passes through.
func cleanRef(ref string) string { return strings.TrimPrefix(ref, "oci://") }

// refUserinfo matches credentials written into a reference (user:pass@registry/...), which
// OCI references cannot carry; the host part is the text before the first slash.
var refUserinfo = regexp.MustCompile(`^(oci://)?[^/]*@`)

// checkRefCredentials refuses a reference with credentials in it, without echoing them.
func checkRefCredentials(ref string) error {
	if strings.Contains(ref, "/") && refUserinfo.MatchString(ref) {
		shown := refUserinfo.ReplaceAllString(ref, "${1}")
		return exitcode.AsBadInput(fmt.Errorf("bundle reference %s: credentials cannot be part of a reference; use docker login or --username with --password-stdin", shown))
	}
	return nil
}

func nameOptions(r string, opts RemoteOptions) []name.Option {
	if opts.Insecure || loopback(r) {
		return []name.Option{name.Insecure}
	}
	return nil
}

// ParseReference reads oci://REG/REPO:TAG or @DIGEST (as Flux writes it) or the same
// without the scheme (as crane does). Loopback registries are reached over plain HTTP.
func ParseReference(ref string, opts RemoteOptions) (name.Reference, error) {
	if err := checkRefCredentials(ref); err != nil {
		return nil, err
	}
	r := cleanRef(ref)
	parsed, err := name.ParseReference(r, nameOptions(r, opts)...)
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("bundle reference %q: %w", ref, err))
	}
	return parsed, nil
}

// ParseRepository reads oci://REG/REPO or REG/REPO.
func ParseRepository(ref string, opts RemoteOptions) (name.Repository, error) {
	if err := checkRefCredentials(ref); err != nil {
		return name.Repository{}, err
	}
	r := cleanRef(ref)
	repo, err := name.NewRepository(r, nameOptions(r, opts)...)
	if err != nil {
		return name.Repository{}, exitcode.AsBadInput(fmt.Errorf("bundle repository %q: %w", ref, err))
	}
	return repo, nil
}

// parsePushTag reads the reference a push writes, which must name its tag: pushing to
// an implied :latest would be a surprise, and a digest cannot be written to.
func parsePushTag(ref string, opts RemoteOptions) (name.Tag, error) {
	if err := checkRefCredentials(ref); err != nil {
		return name.Tag{}, err
	}
	r := cleanRef(ref)
	// An empty default tag makes a missing tag visible instead of becoming latest.
	parsed, err := name.ParseReference(r, append(nameOptions(r, opts), name.WithDefaultTag(""))...)
	if err != nil {
		return name.Tag{}, exitcode.AsBadInput(fmt.Errorf("bundle reference %q: %w", ref, err))
	}
	tag, ok := parsed.(name.Tag)
	if !ok || tag.TagStr() == "" {
		return name.Tag{}, exitcode.AsBadInput(fmt.Errorf("push needs a tag, as in %s:VERSION (got %q)", parsed.Context(), ref))
	}
	return tag, nil
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
	backoff := retryBackoff
	if o.backoff != nil {
		backoff = *o.backoff
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		auth,
		remote.WithRetryBackoff(backoff),
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
		remote.WithUserAgent("bulwark"),
	}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	return opts
}

// fail is registryError that also removes this invocation's password, should any layer
// below have put it in a message.
func (o RemoteOptions) fail(action string, ref fmt.Stringer, err error) error {
	err = registryError(action, ref, err)
	if err == nil || len(o.Password) < 4 {
		return err
	}
	msg := err.Error()
	clean := strings.ReplaceAll(msg, o.Password, "<redacted>")
	basic := base64.StdEncoding.EncodeToString([]byte(o.Username + ":" + o.Password))
	clean = strings.ReplaceAll(clean, basic, "<redacted>")
	if clean == msg {
		return err
	}
	return exitcode.Wrap(exitcode.Of(err, exitcode.Environment), &redactedError{msg: clean, cause: errors.Unwrap(err)})
}

// redactedError shows a scrubbed message; it unwraps only to context errors, so that no
// caller can reach the original, unscrubbed error text through errors.As.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error {
	for _, c := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(e.cause, c) {
			return c
		}
	}
	return nil
}

// Patterns of secrets that HTTP libraries put in error text: userinfo in URLs,
// Authorization header values, and token-bearing query parameters.
var (
	secretUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s"']+@`)
	secretAuthz    = regexp.MustCompile(`(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._~-]+`)
	secretQuery    = regexp.MustCompile(`(?i)([?&](?:access_token|token|password|passwd|secret|signature|sig|x-amz-signature|x-amz-credential)=)[^&\s"']+`)
)

// scrub removes secret-shaped text from a message.
func scrub(s string) string {
	s = secretUserinfo.ReplaceAllString(s, "${1}")
	s = secretAuthz.ReplaceAllString(s, "${1} <redacted>")
	return secretQuery.ReplaceAllString(s, "${1}<redacted>")
}

// registryError turns a transport failure into an error that names the action and the
// registry or repository, and carries no credentials: a registry's own message (which
// may echo a request) is reduced to its status and error codes, URLs lose their userinfo
// and query, and anything else is scrubbed of secret-shaped text. Auth refusals,
// unreachable registries and server errors are Environment (3); a missing tag or
// repository is BadInput (2).
func registryError(action string, ref fmt.Stringer, err error) error {
	if err == nil {
		return nil
	}
	var cause error
	for _, c := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, c) {
			cause = c
		}
	}
	var msg string
	var terr *transport.Error
	var uerr *url.Error
	switch {
	case errors.As(err, &terr):
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
			msg = strings.TrimSpace(fmt.Sprintf("registry answered HTTP %d %s", terr.StatusCode, strings.Join(codes, ",")))
		}
	case errors.As(err, &uerr):
		msg = fmt.Sprintf("%s %s: %s", uerr.Op, redactURL(uerr.URL), scrub(uerr.Err.Error()))
	default:
		msg = scrub(err.Error())
	}
	return exitcode.AsEnvironment(&redactedError{msg: fmt.Sprintf("%s %s: %s", action, ref, msg), cause: cause})
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<url>"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// uploadCounter counts blob upload sessions, so that progress can say whether a blob was
// sent or was already in the registry.
type uploadCounter struct {
	base    http.RoundTripper
	uploads atomic.Int64
}

func (c *uploadCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/") {
		c.uploads.Add(1)
	}
	return c.base.RoundTrip(r)
}

// progress writes the push's concise status lines; a nil writer writes nothing.
type progress struct{ w io.Writer }

func (p progress) printf(format string, args ...any) {
	if p.w != nil {
		fmt.Fprintf(p.w, format+"\n", args...)
	}
}

// humanBytes formats a size as people read it: 512 B, 12.4 KiB, 3.0 MiB.
func humanBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}

// Push packs the bundle and writes it to ref (which must name a tag). Every blob goes in
// first, then the manifest by digest; only then are the tag, opts.Tags and any semver
// aliases pointed at it, so a push that fails midway leaves every existing tag where it
// was. Blobs the registry already has are not uploaded again, so an unchanged re-push sends
// no blob and keeps the digest.
func Push(ctx context.Context, b *Bundle, ref string, opts PushOptions) (name.Digest, error) {
	tag, err := parsePushTag(ref, opts.RemoteOptions)
	if err != nil {
		return name.Digest{}, err
	}
	repo := tag.Context()
	tags := []string{tag.TagStr()}
	seen := map[string]bool{tag.TagStr(): true}
	for _, t := range opts.Tags {
		if _, err := name.NewTag(repo.String()+":"+t, name.StrictValidation); err != nil {
			return name.Digest{}, exitcode.AsBadInput(fmt.Errorf("tag %q: %w", t, err))
		}
		if !seen[t] {
			seen[t] = true
			tags = append(tags, t)
		}
	}
	img, err := Pack(b, opts.PackOptions)
	if err != nil {
		return name.Digest{}, err
	}
	dig, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	byDigest := repo.Digest(dig.String())
	prog := progress{w: opts.Progress}

	base := opts.Transport
	if base == nil {
		base = remote.DefaultTransport
	}
	counter := &uploadCounter{base: base}
	ro := opts.RemoteOptions
	ro.Transport = counter
	ropts := ro.remote(ctx)

	if opts.SemverAliases {
		existing, err := listTags(repo, ropts)
		var terr *transport.Error
		if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
			// Some registries refuse to list a repository that does not exist yet, or
			// grant push without list; the push itself will say if the credentials are wrong.
			prog.printf("cannot list the tags of %s (HTTP %d): moving semver aliases without checking for higher releases", repo, terr.StatusCode)
			existing, err = nil, nil
		}
		if err != nil {
			return name.Digest{}, opts.fail("listing tags of", repo, err)
		}
		move, kept := semverAliases(b.Index.Spec.Version, existing)
		for _, k := range kept {
			prog.printf("not moving %s:%s: %s", repo, k.alias, k.reason)
		}
		for _, a := range move {
			if !seen[a] {
				seen[a] = true
				tags = append(tags, a)
			}
		}
	}

	pusher, err := remote.NewPusher(ropts...)
	if err != nil {
		return name.Digest{}, err
	}
	config, err := partial.ConfigLayer(img)
	if err != nil {
		return name.Digest{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return name.Digest{}, err
	}
	blobs := append(layers, config)
	var sent int64
	for i, l := range blobs {
		size, err := l.Size()
		if err != nil {
			return name.Digest{}, err
		}
		before := counter.uploads.Load()
		if err := pusher.Upload(ctx, repo, l); err != nil {
			return name.Digest{}, opts.fail("pushing a blob to", repo, err)
		}
		sent += size
		how := "already present"
		if counter.uploads.Load() > before {
			how = "uploaded"
		}
		prog.printf("pushing %s: %d/%d blobs, %s (%s)", repo, i+1, len(blobs), humanBytes(sent), how)
	}
	if err := pusher.Put(ctx, byDigest, img); err != nil {
		return name.Digest{}, opts.fail("pushing the manifest to", repo, err)
	}
	prog.printf("pushing %s: manifest %s", repo, dig)
	for _, t := range tags {
		if err := pusher.Put(ctx, repo.Tag(t), img); err != nil {
			return name.Digest{}, opts.fail("tagging", repo.Tag(t), err)
		}
	}
	prog.printf("tagged %s: %s", repo, strings.Join(tags, " "))
	return byDigest, nil
}

// listTags returns a repository's tags; a repository that does not exist yet has none.
func listTags(repo name.Repository, ropts []remote.Option) ([]string, error) {
	tags, err := remote.List(repo, ropts...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	return tags, err
}

// keptAlias is an alias a push leaves alone, and why.
type keptAlias struct{ alias, reason string }

// semverAliases returns the MAJOR and MAJOR.MINOR tags a release version should move,
// given the repository's tags: an alias stays where it is when a higher release it covers
// exists already (pushing a 1.3.9 hotfix after 1.4.2 moves 1.3, not 1). Prereleases and
// versions that are not semver get no aliases.
func semverAliases(version string, existing []string) (move []string, kept []keptAlias) {
	v := parseSemver(version)
	if !v.isRelease() {
		return nil, nil
	}
	prefix := ""
	if strings.HasPrefix(version, "v") {
		prefix = "v"
	}
	major := fmt.Sprintf("%s%d", prefix, v.nums[0])
	minor := fmt.Sprintf("%s%d.%d", prefix, v.nums[0], v.nums[1])
	var majorBy, minorBy string
	for _, t := range existing {
		e := parseSemver(t)
		if !e.isRelease() || e.nums[0] != v.nums[0] || compareSemver(e, v) <= 0 {
			continue
		}
		if majorBy == "" || compareSemver(e, parseSemver(majorBy)) > 0 {
			majorBy = t
		}
		if e.nums[1] == v.nums[1] && (minorBy == "" || compareSemver(e, parseSemver(minorBy)) > 0) {
			minorBy = t
		}
	}
	for _, a := range []struct{ tag, by string }{{major, majorBy}, {minor, minorBy}} {
		if a.by != "" {
			kept = append(kept, keptAlias{a.tag, a.by + " is higher"})
		} else {
			move = append(move, a.tag)
		}
	}
	return move, kept
}

// hashingReader records what passed through it, so that Pull can tell a blob that does
// not match its digest (a bad bundle) from a connection that broke (the environment).
type hashingReader struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	err error
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	hr.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) && hr.err == nil {
		hr.err = err
	}
	return n, err
}

// isNetworkError reports whether a read failed because the connection did, as opposed to
// the registry sending bytes that do not match the digest it was asked for.
func isNetworkError(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, net.ErrClosed)
}

// Pull fetches a bundle, checks the artifact has the shape Bulwark writes (CheckManifest),
// and unpacks it in memory with DefaultLimits before checking every file against the
// index. The layer's bytes are checked against its digest.
func Pull(ctx context.Context, ref string, opts RemoteOptions) (*Bundle, name.Digest, error) {
	r, err := ParseReference(ref, opts)
	if err != nil {
		return nil, name.Digest{}, err
	}
	ropts := opts.remote(ctx)
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, name.Digest{}, opts.fail("pulling", r, err)
	}
	if desc.MediaType != ManifestMediaType {
		return nil, name.Digest{}, exitcode.AsBadInput(fmt.Errorf("%s is a %s, not a bundle (an OCI image manifest)", r, desc.MediaType))
	}
	img, err := desc.Image()
	if err != nil {
		return nil, name.Digest{}, opts.fail("pulling", r, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, name.Digest{}, exitcode.AsBadInput(fmt.Errorf("%s: %w", r, err))
	}
	if err := CheckManifest(m); err != nil {
		return nil, name.Digest{}, exitcode.AsBadInput(fmt.Errorf("%s: %w", r, err))
	}
	want := m.Layers[0]
	layer, err := img.LayerByDigest(want.Digest)
	if err != nil {
		return nil, name.Digest{}, opts.fail("pulling", r, err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) || isNetworkError(err) {
			return nil, name.Digest{}, opts.fail("pulling", r, err)
		}
		// What is left is the client's own check of the response against the descriptor.
		return nil, name.Digest{}, exitcode.AsBadInput(fmt.Errorf("%s: the registry served a layer that does not match its descriptor (%s, %d bytes)", r, want.Digest, want.Size))
	}
	defer rc.Close()
	hr := &hashingReader{r: rc, h: sha256.New()}
	files, unpackErr := Unpack(hr, DefaultLimits())
	if unpackErr == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(hr, want.Size+1))
	}
	got := "sha256:" + hex.EncodeToString(hr.h.Sum(nil))
	broken := hr.err != nil && isNetworkError(hr.err)
	mismatch := !broken && (hr.err != nil || hr.n > want.Size || (hr.n == want.Size && got != want.Digest.String()))
	switch {
	case broken:
		return nil, name.Digest{}, opts.fail("pulling", r, hr.err)
	case mismatch:
		return nil, name.Digest{}, exitcode.AsBadInput(fmt.Errorf("%s: the registry served a layer that does not match its digest %s", r, want.Digest))
	case unpackErr != nil:
		return nil, name.Digest{}, exitcode.AsBadInput(fmt.Errorf("%s: %w", r, unpackErr))
	case hr.n != want.Size:
		return nil, name.Digest{}, exitcode.AsBadInput(fmt.Errorf("%s: the layer ended after %d of %d bytes", r, hr.n, want.Size))
	}
	b, err := FromFiles(files)
	if err != nil {
		return nil, name.Digest{}, fmt.Errorf("%s: %w", r, err)
	}
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "pulled %s@%s: %d files, %s\n", r.Context(), desc.Digest, len(files), humanBytes(want.Size))
	}
	return b, r.Context().Digest(desc.Digest.String()), nil
}

// CheckManifest accepts exactly what Bulwark pushes, which is also what Argo CD requires
// of an OCI source (exactly one content layer of an accepted media type, at most 10
// layers) and what Flux extracts: an OCI image manifest with the Flux config type and one
// application/vnd.oci.image.layer.v1.tar+gzip layer.
func CheckManifest(m *v1.Manifest) error {
	if m.MediaType != "" && m.MediaType != ManifestMediaType {
		return fmt.Errorf("manifest media type %s, want %s", m.MediaType, ManifestMediaType)
	}
	if m.Config.MediaType != ConfigMediaType {
		return fmt.Errorf("config media type %s, want %s", m.Config.MediaType, ConfigMediaType)
	}
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

// Tags lists a repository's tags: semantic versions first, highest first (a release above
// its prereleases), then the rest in lexical order.
func Tags(ctx context.Context, repo string, opts RemoteOptions) ([]string, error) {
	r, err := ParseRepository(repo, opts)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(r, opts.remote(ctx)...)
	if err != nil {
		return nil, opts.fail("listing tags of", r, err)
	}
	sortTags(tags)
	return tags, nil
}

// sortTags orders tags as Tags returns them.
func sortTags(tags []string) {
	sort.SliceStable(tags, func(i, j int) bool { return tagLess(tags[i], tags[j]) })
}

// Resolve returns the digest a reference points at; a digest reference is returned as is.
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
		return name.Digest{}, opts.fail("resolving", r, err)
	}
	return r.Context().Digest(desc.Digest.String()), nil
}
