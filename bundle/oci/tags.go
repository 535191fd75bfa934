package oci

import (
	"context"
	"sort"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Tags lists a repository's tags: semantic versions first, highest first (a release above
// its prereleases), then the rest in lexical order.
func (c *Client) Tags(ctx context.Context, repo string) ([]string, error) {
	r, err := c.ParseRepository(repo)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(r, c.RemoteOptions(ctx)...)
	if err != nil {
		return nil, c.WrapError("listing tags of", r, err)
	}
	sortTags(tags)
	return tags, nil
}

// sortTags orders tags as Tags returns them.
func sortTags(tags []string) {
	sort.SliceStable(tags, func(i, j int) bool { return tagLess(tags[i], tags[j]) })
}
