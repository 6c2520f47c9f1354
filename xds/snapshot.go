package xds

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"

	"github.com/tollgate/tollgate/policy"
)

// Snapshot translates a policy for one node group into a snapshot for
// go-control-plane's cache. Each resource type is versioned by its content,
// so a policy change that leaves a type alone leaves its version alone and
// Envoy is not sent that type again.
func Snapshot(p *policy.Policy, group string, opts Options) (*cachev3.Snapshot, error) {
	res, err := Translate(p, group, opts)
	if err != nil {
		return nil, err
	}
	return res.Snapshot()
}

// Snapshot packages the resources into a consistent snapshot: every route
// configuration a listener names and every EDS cluster's endpoints are
// present, so over ADS Envoy never waits for a resource that does not come.
func (r *Resources) Snapshot() (*cachev3.Snapshot, error) {
	byType := map[types.ResponseType][]types.Resource{
		types.Listener: asResources(r.Listeners),
		types.Route:    asResources(r.Routes),
		types.Cluster:  asResources(r.Clusters),
		types.Endpoint: asResources(r.Endpoints),
		types.Secret:   asResources(r.Secrets),
	}
	s := &cachev3.Snapshot{}
	for typ, items := range byType {
		v, err := contentVersion(items)
		if err != nil {
			return nil, err
		}
		s.Resources[typ] = cachev3.NewResources(v, items)
	}
	if err := s.Consistent(); err != nil {
		return nil, fmt.Errorf("inconsistent snapshot: %w", err)
	}
	return s, nil
}

// asResources converts a typed, name-sorted slice into cache resources.
func asResources[T types.Resource](items []T) []types.Resource {
	out := make([]types.Resource, len(items))
	for i, item := range items {
		out[i] = item
	}
	return out
}

// contentVersion is a short hash of the deterministic encoding of
// resources already sorted by name. Each encoding is length-prefixed so
// that two different lists cannot hash the same bytes.
func contentVersion(items []types.Resource) (string, error) {
	h := sha256.New()
	opts := proto.MarshalOptions{Deterministic: true}
	var buf []byte
	for _, item := range items {
		var err error
		buf, err = opts.MarshalAppend(buf[:0], item)
		if err != nil {
			return "", fmt.Errorf("encoding %s: %w", cachev3.GetResourceName(item), err)
		}
		h.Write(binary.AppendUvarint(nil, uint64(len(buf))))
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}
