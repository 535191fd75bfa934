// Package oci packs bundles as OCI artifacts and moves them to and from registries.
//
// Pack, Tarball and Digest are pure: the same bundle and options give the same bytes and
// digest on any machine. A Client (New, with options for credentials, plain HTTP, transport,
// progress and retries) pushes, pulls, lists tags and resolves references, one verb per
// file; every registry error passes through Client.WrapError, which names the action,
// classifies the failure and never carries a credential.
//
// The artifact is one OCI image manifest with Flux's config type and exactly one
// application/vnd.oci.image.layer.v1.tar+gzip layer, which Flux's OCIRepository and Argo
// CD's OCI source both consume with no configuration.
package oci
