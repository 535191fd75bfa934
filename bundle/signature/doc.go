// Package signature signs bundles and verifies their signatures in cosign's key-signature
// format, which cosign verify and Flux's OCIRepository accept: an image tagged
// sha256-<digest>.sig whose layers each hold a simple-signing payload naming the signed
// digest, with the base64 signature as a layer annotation. Keys are cosign's: ECDSA P-256,
// the private key encrypted as ENCRYPTED SIGSTORE PRIVATE KEY.
//
// Verify is stricter than Flux: the signed payload must name the bundle's own digest, so a
// valid signature copied from another artifact is refused.
package signature
