package signature

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"bulwark.dev/bulwark/bundle/oci"
)

// The cosign key-signature format that cosign verify and Flux's OCIRepository accept: an
// image tagged sha256-<digest>.sig whose layers each hold a simple-signing payload naming
// the signed digest, with the base64 signature as a layer annotation.
const (
	SimpleSigningMediaType types.MediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	SignatureAnnotation    string          = "dev.cosignproject.cosign/signature"
)

func signatureTag(d name.Digest) name.Tag {
	return d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + ".sig")
}

// Sign attaches a cosign signature of the artifact at d. Signatures already attached (by
// other keys, or earlier runs) are kept: only a registry that answers 404 for the signature
// tag has none yet. Any other failure to read them (a 401, a 5xx, a broken connection) is
// an error, never a reason to write a signature image that drops the others.
func Sign(ctx context.Context, c *oci.Client, d name.Digest, signer Signer) error {
	body, err := payload.Cosign{Image: d}.MarshalJSON()
	if err != nil {
		return err
	}
	sig, err := signer.SignMessage(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("signing %s: %w", d, err)
	}
	tag := signatureTag(d)
	var base v1.Image = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	existing, err := remote.Image(tag, c.RemoteOptions(ctx)...)
	switch {
	case err == nil:
		base = existing
	case !notFound(err):
		return c.WrapError("reading the signatures of", d, err)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(body, SimpleSigningMediaType),
		Annotations: map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		return err
	}
	if err := remote.Write(tag, img, c.RemoteOptions(ctx)...); err != nil {
		return c.WrapError("writing the signature of", d, err)
	}
	return nil
}

// notFound reports whether the registry answered 404: the artifact has no signatures yet.
func notFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}
