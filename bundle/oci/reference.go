package oci

import (
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"bulwark.dev/bulwark/internal/exitcode"
)

// cleanRef strips the oci:// scheme Flux uses; crane's bare form passes through.
func cleanRef(ref string) string { return strings.TrimPrefix(ref, "oci://") }

// refUserinfo matches credentials written into a reference or URL (user:pass@registry/...,
// https://user:pass@registry/...), which OCI references cannot carry; the host part is the
// text after any scheme and before the first slash.
var refUserinfo = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*://)?[^/]*@`)

// refScheme matches a URL scheme.
var refScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// CheckReference refuses, without echoing what it refuses, a reference carrying credentials
// and one written as a URL of another scheme (https://...): every error that follows may
// then name the reference safely. Every command that takes a reference calls it first.
func CheckReference(ref string) error {
	// Without a slash, NAME@DIGEST is a digest reference, not userinfo.
	if strings.Contains(refScheme.ReplaceAllString(ref, ""), "/") && refUserinfo.MatchString(ref) {
		shown := refUserinfo.ReplaceAllString(ref, "${1}")
		return exitcode.AsBadInput(fmt.Errorf("bundle reference %s: credentials cannot be part of a reference; use docker login or --username with --password-stdin", shown))
	}
	if m := refScheme.FindString(ref); m != "" && m != "oci://" {
		return exitcode.AsBadInput(fmt.Errorf("bundle reference: %s is not a reference scheme (write oci://REGISTRY/REPO:TAG or REGISTRY/REPO:TAG)", strings.TrimSuffix(m, "://")))
	}
	return nil
}

func (c *Client) nameOptions(r string) []name.Option {
	if c.insecure || loopback(r) {
		return []name.Option{name.Insecure}
	}
	return nil
}

// ParseReference reads oci://REG/REPO:TAG or @DIGEST (as Flux writes it) or the same
// without the scheme (as crane does). Loopback registries are reached over plain HTTP.
func (c *Client) ParseReference(ref string) (name.Reference, error) {
	if err := CheckReference(ref); err != nil {
		return nil, err
	}
	r := cleanRef(ref)
	parsed, err := name.ParseReference(r, c.nameOptions(r)...)
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("bundle reference %q: %w", ref, err))
	}
	return parsed, nil
}

// ParseRepository reads oci://REG/REPO or REG/REPO.
func (c *Client) ParseRepository(ref string) (name.Repository, error) {
	if err := CheckReference(ref); err != nil {
		return name.Repository{}, err
	}
	r := cleanRef(ref)
	repo, err := name.NewRepository(r, c.nameOptions(r)...)
	if err != nil {
		return name.Repository{}, exitcode.AsBadInput(fmt.Errorf("bundle repository %q: %w", ref, err))
	}
	return repo, nil
}

// parsePushTag reads the reference a push writes, which must name its tag: pushing to
// an implied :latest would be a surprise, and a digest cannot be written to.
func (c *Client) parsePushTag(ref string) (name.Tag, error) {
	if err := CheckReference(ref); err != nil {
		return name.Tag{}, err
	}
	r := cleanRef(ref)
	// An empty default tag makes a missing tag visible instead of becoming latest.
	parsed, err := name.ParseReference(r, append(c.nameOptions(r), name.WithDefaultTag(""))...)
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
