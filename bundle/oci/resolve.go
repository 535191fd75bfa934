package oci

import (
	"context"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Resolve returns the digest a reference points at; a digest reference is returned as is.
func (c *Client) Resolve(ctx context.Context, ref string) (name.Digest, error) {
	r, err := c.ParseReference(ref)
	if err != nil {
		return name.Digest{}, err
	}
	if d, ok := r.(name.Digest); ok {
		return d, nil
	}
	desc, err := remote.Head(r, c.RemoteOptions(ctx)...)
	if err != nil {
		return name.Digest{}, c.WrapError("resolving", r, err)
	}
	return r.Context().Digest(desc.Digest.String()), nil
}
