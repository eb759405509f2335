package web

import (
	"fmt"
	"net/http"

	"github.com/pocketbase/pocketbase/core"
)

// bucketsCollection and objectsCollection are the index's collections;
// they are named here rather than imported so the interface depends only
// on PocketBase.
const (
	bucketsCollection = "buckets"
	objectsCollection = "objects"
	docsCollection    = "docs"
)

// overview is the data of the overview page and its bucket list.
type overview struct {
	Buckets []*core.Record
	Objects int64
	Bytes   int64
	Error   string
}

func (s *server) overviewPage(e *core.RequestEvent) error {
	return s.page(e, http.StatusOK, "overview", "overview", s.loadOverview(e.Auth))
}

// bucketsFragment re-renders the bucket list, after a stream reconnect.
func (s *server) bucketsFragment(e *core.RequestEvent) error {
	return s.fragment(e, "bucket-list", s.loadOverview(e.Auth))
}

func (s *server) loadOverview(auth *core.Record) overview {
	var data overview
	buckets, err := s.visibleBuckets(auth)
	if err != nil {
		s.logger.Error("buckets not listed", "error", err)
		data.Error = "The bucket list could not be read."
		return data
	}
	data.Buckets = buckets
	for _, bucket := range buckets {
		data.Objects += bucket.GetInt64("object_count")
		data.Bytes += bucket.GetInt64("bytes")
	}
	return data
}

func (s *server) visibleBuckets(auth *core.Record) ([]*core.Record, error) {
	collection, err := s.app.FindCachedCollectionByNameOrId(bucketsCollection)
	if err != nil {
		return nil, fmt.Errorf("find buckets collection: %w", err)
	}
	query, ok, err := listQuery(s.app, collection, auth)
	if err != nil || !ok {
		return nil, err
	}

	var buckets []*core.Record
	if err := query.OrderBy(bucketsCollection + ".name ASC").Limit(1000).All(&buckets); err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	return buckets, nil
}
