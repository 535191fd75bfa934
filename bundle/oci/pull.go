package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/internal/exitcode"
)

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
func (c *Client) Pull(ctx context.Context, ref string) (*bundle.Bundle, name.Digest, error) {
	r, err := c.ParseReference(ref)
	if err != nil {
		return nil, name.Digest{}, err
	}
	ropts := c.RemoteOptions(ctx)
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, name.Digest{}, c.WrapError("pulling", r, err)
	}
	if desc.MediaType != ManifestMediaType {
		return nil, name.Digest{}, exitcode.AsBadInput(fmt.Errorf("%s is a %s, not a bundle (an OCI image manifest)", r, desc.MediaType))
	}
	img, err := desc.Image()
	if err != nil {
		return nil, name.Digest{}, c.WrapError("pulling", r, err)
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
		return nil, name.Digest{}, c.WrapError("pulling", r, err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) || isNetworkError(err) {
			return nil, name.Digest{}, c.WrapError("pulling", r, err)
		}
		// What is left is the client's own check of the response against the descriptor.
		return nil, name.Digest{}, exitcode.AsBadInput(fmt.Errorf("%s: the registry served a layer that does not match its descriptor (%s, %d bytes)", r, want.Digest, want.Size))
	}
	defer rc.Close()
	hr := &hashingReader{r: rc, h: sha256.New()}
	// The index is the tar stream's first file: it decodes while the rest inflates.
	var pending *bundle.PendingIndex
	files, unpackErr := unpack(hr, DefaultLimits(), func(name string, data []byte) {
		if name == bundle.IndexFile && pending == nil {
			pending = bundle.DecodeIndexAsync(data)
		}
	})
	if unpackErr == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(hr, want.Size+1))
	}
	got := "sha256:" + hex.EncodeToString(hr.h.Sum(nil))
	broken := hr.err != nil && isNetworkError(hr.err)
	mismatch := !broken && (hr.err != nil || hr.n > want.Size || (hr.n == want.Size && got != want.Digest.String()))
	switch {
	case broken:
		return nil, name.Digest{}, c.WrapError("pulling", r, hr.err)
	case mismatch:
		return nil, name.Digest{}, exitcode.AsBadInput(fmt.Errorf("%s: the registry served a layer that does not match its digest %s", r, want.Digest))
	case unpackErr != nil:
		return nil, name.Digest{}, exitcode.AsBadInput(fmt.Errorf("%s: %w", r, unpackErr))
	case hr.n != want.Size:
		return nil, name.Digest{}, exitcode.AsBadInput(fmt.Errorf("%s: the layer ended after %d of %d bytes", r, hr.n, want.Size))
	}
	b, err := bundle.FromFilesIndex(files, pending)
	if err != nil {
		return nil, name.Digest{}, fmt.Errorf("%s: %w", r, err)
	}
	if c.progress != nil {
		fmt.Fprintf(c.progress, "pulled %s@%s: %d files, %s\n", r.Context(), desc.Digest, len(files), humanBytes(want.Size))
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
	if m.Layers[0].Size > bundle.MaxTreeBytes {
		return fmt.Errorf("layer is %d bytes, over the %d-byte limit", m.Layers[0].Size, bundle.MaxTreeBytes)
	}
	return nil
}
