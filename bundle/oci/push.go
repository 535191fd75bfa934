package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/internal/exitcode"
)

// PushOptions add what a push writes besides the tag.
type PushOptions struct {
	// Pack sets the provenance annotations.
	Pack PackOptions
	// Tags are extra tags pointed at the same digest, e.g. latest.
	Tags []string
	// SemverAliases also tags MAJOR and MAJOR.MINOR of a release version (never of a
	// prerelease), each only if the repository holds no higher release it would cover.
	SemverAliases bool
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
func (c *Client) Push(ctx context.Context, b *bundle.Bundle, ref string, opts PushOptions) (name.Digest, error) {
	if err := c.CheckPush(ref, opts); err != nil {
		return name.Digest{}, err
	}
	img, err := Pack(b, opts.Pack)
	if err != nil {
		return name.Digest{}, err
	}
	return c.PushPacked(ctx, &Packed{Index: b.Index, Image: img}, ref, opts)
}

// CheckPush refuses a push's reference and tags before any work is done for it: ref must
// name a tag, and every extra tag must be a valid one.
func (c *Client) CheckPush(ref string, opts PushOptions) error {
	_, _, err := c.pushTags(ref, opts)
	return err
}

// pushTags is the tag ref names and every tag a push points, in order, without repeats.
func (c *Client) pushTags(ref string, opts PushOptions) (name.Tag, []string, error) {
	tag, err := c.parsePushTag(ref)
	if err != nil {
		return name.Tag{}, nil, err
	}
	tags := []string{tag.TagStr()}
	seen := map[string]bool{tag.TagStr(): true}
	for _, t := range opts.Tags {
		if _, err := name.NewTag(tag.Context().String()+":"+t, name.StrictValidation); err != nil {
			return name.Tag{}, nil, exitcode.AsBadInput(fmt.Errorf("tag %q: %w", t, err))
		}
		if !seen[t] {
			seen[t] = true
			tags = append(tags, t)
		}
	}
	return tag, tags, nil
}

// PushPacked is Push of a bundle packed already (PackDir); opts.Pack is not used.
func (c *Client) PushPacked(ctx context.Context, p *Packed, ref string, opts PushOptions) (name.Digest, error) {
	tag, tags, err := c.pushTags(ref, opts)
	if err != nil {
		return name.Digest{}, err
	}
	repo := tag.Context()
	seen := map[string]bool{}
	for _, t := range tags {
		seen[t] = true
	}
	img := p.Image
	dig, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	byDigest := repo.Digest(dig.String())
	prog := progress{w: c.progress}

	base := c.transport
	if base == nil {
		base = remote.DefaultTransport
	}
	counter := &uploadCounter{base: base}
	counted := *c
	counted.transport = counter
	ropts := counted.RemoteOptions(ctx)

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
			return name.Digest{}, c.WrapError("listing tags of", repo, err)
		}
		move, kept := semverAliases(p.Index.Spec.Version, existing)
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
			return name.Digest{}, c.WrapError("pushing a blob to", repo, err)
		}
		sent += size
		how := "already present"
		if counter.uploads.Load() > before {
			how = "uploaded"
		}
		prog.printf("pushing %s: %d/%d blobs, %s (%s)", repo, i+1, len(blobs), humanBytes(sent), how)
	}
	if err := pusher.Put(ctx, byDigest, img); err != nil {
		return name.Digest{}, c.WrapError("pushing the manifest to", repo, err)
	}
	prog.printf("pushing %s: manifest %s", repo, dig)
	for _, t := range tags {
		if err := pusher.Put(ctx, repo.Tag(t), img); err != nil {
			return name.Digest{}, c.WrapError("tagging", repo.Tag(t), err)
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
