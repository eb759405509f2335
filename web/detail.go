package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/pocketbase/pocketbase/core"
)

// objectDetail is the data of an object's page.
type objectDetail struct {
	ID           string
	Bucket       string
	Key          string
	Kind         string
	Fields       []fieldValue
	UserMetadata string
	Preview      string
	PreviewError string
	Thumb        string
	Dashboard    string
	Deleted      bool
}

// fieldValue is one metadata row of the detail page.
type fieldValue struct {
	Name  string
	Value string
}

// hiddenDetailFields are shown elsewhere on the page or mean nothing to
// a reader.
var hiddenDetailFields = map[string]bool{"id": true, "user_metadata": true, "thumb_small": true, "thumb_medium": true}

func (s *server) objectPage(e *core.RequestEvent) error {
	detail, status, message := s.loadObject(e, e.Request.PathValue("id"))
	if status != http.StatusOK {
		return s.errorPage(e, status, message)
	}
	return s.page(e, http.StatusOK, "object", "gallery", detail)
}

// objectFragment re-renders the detail body, after a stream reconnect.
func (s *server) objectFragment(e *core.RequestEvent) error {
	detail, status, message := s.loadObject(e, e.Request.PathValue("id"))
	if status == http.StatusNotFound {
		return s.fragment(e, "object-body", objectDetail{ID: e.Request.PathValue("id"), Deleted: true})
	}
	if status != http.StatusOK {
		return s.errorPage(e, status, message)
	}
	return s.fragment(e, "object-body", detail)
}

func (s *server) loadObject(e *core.RequestEvent, id string) (objectDetail, int, string) {
	record, err := findViewable(s.app, objectsCollection, id, e.Auth)
	if err != nil {
		if !errors.Is(err, errNotVisible) {
			s.logger.Debug("object not found", "id", id, "error", err)
		}
		return objectDetail{}, http.StatusNotFound, "No such object, or you may not view it."
	}
	return s.describeObject(e.Request.Context(), record), http.StatusOK, ""
}

// describeObject turns a record into the detail page's data, with a
// fresh presigned URL for the preview.
func (s *server) describeObject(ctx context.Context, record *core.Record) objectDetail {
	detail := objectDetail{
		ID:        record.Id,
		Bucket:    record.GetString("bucket"),
		Key:       record.GetString("key"),
		Kind:      record.GetString("kind"),
		Dashboard: dashboardRecordURL(objectsCollection, record.Id),
		Thumb:     fileURL(record, "thumb_medium"),
	}

	for _, field := range record.Collection().Fields {
		name := field.GetName()
		if hiddenDetailFields[name] || field.GetHidden() {
			continue
		}
		detail.Fields = append(detail.Fields, fieldValue{Name: name, Value: displayValue(record, field)})
	}

	if raw := record.GetString("user_metadata"); raw != "" && raw != "null" {
		detail.UserMetadata = prettyJSON(raw)
	}

	switch {
	case s.opts.Presign == nil:
		detail.PreviewError = "Previews are not configured."
	case detail.Kind == "image" || detail.Kind == "video" || detail.Kind == "audio":
		link, err := s.opts.Presign(ctx, detail.Bucket, detail.Key, s.opts.PresignTTL)
		if err != nil {
			s.logger.Warn("preview link not made", "bucket", detail.Bucket, "key", detail.Key, "error", err)
			detail.PreviewError = "The preview link could not be made."
		}
		s.media.learn(link)
		detail.Preview = link
	}
	return detail
}

// displayValue prints one field for people: dates in UTC, sizes with
// units, empty values as a dash.
func displayValue(record *core.Record, field core.Field) string {
	value := record.Get(field.GetName())
	switch field.(type) {
	case *core.DateField, *core.AutodateField:
		if record.GetDateTime(field.GetName()).IsZero() {
			return "–"
		}
		return formatWhen(record.GetDateTime(field.GetName()))
	case *core.NumberField:
		if field.GetName() == "size" {
			return fmt.Sprintf("%s (%d bytes)", humanBytes(record.GetInt64("size")), record.GetInt64("size"))
		}

		// Media columns hold 0 until extraction finds a value; a reader
		// should not take an ISO of 0 or a position at 0°, 0° as data.
		if record.GetFloat(field.GetName()) == 0 {
			return "–"
		}
	}
	text := fmt.Sprint(value)
	if text == "" || text == "<nil>" {
		return "–"
	}
	return text
}

func prettyJSON(raw string) string {
	var value any
	if err := json.Unmarshal([]byte(raw), &value); err != nil {
		return raw
	}
	// The template escapes the text; JSON's own HTML escaping would show
	// readers \u003c instead of <.
	var out bytes.Buffer
	encoder := json.NewEncoder(&out)
	encoder.SetEscapeHTML(false)
	encoder.SetIndent("", "  ")
	if err := encoder.Encode(value); err != nil {
		return raw
	}
	return strings.TrimSpace(out.String())
}
