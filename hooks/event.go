package hooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Event is the part of a MinIO bucket notification the indexer needs: which
// key of which bucket changed. Everything else about the object is read
// fresh from MinIO, because events arrive out of order and deletes carry
// no metadata.
type Event struct {
	Name      string
	Bucket    string
	Key       string
	VersionID string
	Sequencer string
}

// eventMessage is the message MinIO's NATS target publishes: one record per
// message, with Key holding "<bucket>/<raw key>".
type eventMessage struct {
	EventName string `json:"EventName"`
	Key       string `json:"Key"`
	Records   []struct {
		EventName string `json:"eventName"`
		S3        struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key       string `json:"key"`
				VersionID string `json:"versionId"`
				Sequencer string `json:"sequencer"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
}

// ParseEvent decodes one MinIO notification message. The record's key is
// query-escaped by MinIO ('/' as %2F, space as '+', '+' as %2B), so it is
// decoded with url.QueryUnescape; url.PathUnescape would keep '+' and turn
// spaces into pluses.
func ParseEvent(data []byte) (Event, error) {
	var msg eventMessage
	if err := json.Unmarshal(data, &msg); err != nil {
		return Event{}, fmt.Errorf("decode event JSON: %w", err)
	}
	if len(msg.Records) != 1 {
		return Event{}, fmt.Errorf("event has %d records, want exactly 1", len(msg.Records))
	}
	record := msg.Records[0]

	event := Event{
		Name:      record.EventName,
		Bucket:    record.S3.Bucket.Name,
		VersionID: record.S3.Object.VersionID,
		Sequencer: record.S3.Object.Sequencer,
	}
	if event.Name == "" {
		event.Name = msg.EventName
	}
	if event.Name == "" {
		return Event{}, errors.New("event has no event name")
	}
	if event.Bucket == "" {
		return Event{}, errors.New("event has no bucket name")
	}

	key, err := url.QueryUnescape(record.S3.Object.Key)
	if err != nil {
		return Event{}, fmt.Errorf("decode object key %q: %w", record.S3.Object.Key, err)
	}
	if key == "" {
		return Event{}, errors.New("event has no object key")
	}

	// The envelope carries the raw key too; when both are present they must
	// agree, or one of them was mangled on the way.
	if msg.Key != "" {
		rawKey, ok := strings.CutPrefix(msg.Key, event.Bucket+"/")
		if !ok || rawKey != key {
			return Event{}, fmt.Errorf("event keys disagree: record %q, envelope %q", key, msg.Key)
		}
	}
	event.Key = key

	return event, nil
}
