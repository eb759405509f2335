package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

const (
	// pageSize is how many tiles one scroll step loads.
	pageSize = 48

	// maxOffset bounds paging, so a hand-made URL cannot ask SQLite to
	// skip millions of rows.
	maxOffset = 100_000

	// maxSearch bounds the key search; S3 keys are at most 1024 bytes.
	maxSearch = 1024
)

// galleryFilter is a gallery request's filters, already checked: every
// value reaches SQL as a bound parameter or through a fixed column name.
type galleryFilter struct {
	Bucket string
	Kind   string
	Search string
	From   string
	To     string
	Camera string
	GPS    bool
	Sort   string
	Offset int
}

// sortOrders maps the sort choices to fixed ORDER BY text; the request
// only picks a key.
var sortOrders = map[string]string{
	"newest": "objects.last_modified DESC, objects.id DESC",
	"taken":  "objects.taken_at_utc DESC, objects.id DESC",
	"size":   "objects.size DESC, objects.id DESC",
	"key":    "objects.key ASC, objects.id ASC",
}

var objectKinds = []string{"image", "video", "audio", "document", "other"}

func parseGalleryFilter(values url.Values) galleryFilter {
	f := galleryFilter{
		Bucket: limitText(values.Get("bucket"), 63),
		Search: limitText(values.Get("q"), maxSearch),
		Camera: limitText(values.Get("camera"), 255),
		GPS:    values.Get("gps") == "1",
		From:   validDate(values.Get("from")),
		To:     validDate(values.Get("to")),
		Sort:   values.Get("sort"),
	}
	for _, kind := range objectKinds {
		if values.Get("kind") == kind {
			f.Kind = kind
		}
	}
	if _, ok := sortOrders[f.Sort]; !ok {
		f.Sort = "newest"
	}
	if offset, err := strconv.Atoi(values.Get("offset")); err == nil && offset > 0 {
		f.Offset = min(offset, maxOffset)
	}
	return f
}

// Query is the filter as URL parameters, without the offset.
func (f galleryFilter) Query() string {
	values := url.Values{}
	set := func(name, value string) {
		if value != "" {
			values.Set(name, value)
		}
	}
	set("bucket", f.Bucket)
	set("kind", f.Kind)
	set("q", f.Search)
	set("from", f.From)
	set("to", f.To)
	set("camera", f.Camera)
	if f.GPS {
		values.Set("gps", "1")
	}
	if f.Sort != "newest" {
		values.Set("sort", f.Sort)
	}
	return values.Encode()
}

// NextQuery is the query of the page after this one.
func (f galleryFilter) NextQuery() string {
	next := url.Values{"offset": {strconv.Itoa(f.Offset + pageSize)}}
	if rest := f.Query(); rest != "" {
		return rest + "&" + next.Encode()
	}
	return next.Encode()
}

func limitText(value string, max int) string {
	value = strings.TrimSpace(value)
	if len([]rune(value)) > max {
		value = string([]rune(value)[:max])
	}
	return value
}

func validDate(value string) string {
	if _, err := time.Parse(time.DateOnly, value); err != nil {
		return ""
	}
	return value
}

// galleryColumns says which optional media columns exist now.
type galleryColumns struct {
	Thumbs bool
	Taken  bool
	Camera bool
	GPS    bool
}

func columnsOf(objects *core.Collection) galleryColumns {
	return galleryColumns{
		Thumbs: hasField(objects, "thumb_small"),
		Taken:  hasField(objects, "taken_at_utc"),
		Camera: hasField(objects, "model"),
		GPS:    hasField(objects, "gps_lat") && hasField(objects, "gps_lon"),
	}
}

// objectsQuery is the visible objects matching the filter, unordered and
// unpaged; ok is false when the user may list no objects.
func (s *server) objectsQuery(auth *core.Record, f galleryFilter) (*dbx.SelectQuery, *core.Collection, bool, error) {
	objects, err := s.app.FindCachedCollectionByNameOrId(objectsCollection)
	if err != nil {
		return nil, nil, false, fmt.Errorf("find objects collection: %w", err)
	}
	query, ok, err := listQuery(s.app, objects, auth)
	if err != nil || !ok {
		return nil, objects, ok, err
	}
	for _, condition := range f.where(columnsOf(objects), objectColumn) {
		query.AndWhere(condition)
	}
	return query, objects, true, nil
}

// objectColumn is a column of the objects table in a query of it.
func objectColumn(name string) string {
	return "objects." + name
}

// where is the filter as SQL conditions on the object columns that
// column names: the table's, or bound values of one record in memory.
func (f galleryFilter) where(columns galleryColumns, column func(name string) string) []dbx.Expression {
	var conditions []dbx.Expression
	if f.Bucket != "" {
		conditions = append(conditions, dbx.NewExp(column("bucket")+" = {:bucket}", dbx.Params{"bucket": f.Bucket}))
	}
	if f.Kind != "" {
		conditions = append(conditions, dbx.NewExp(column("kind")+" = {:kind}", dbx.Params{"kind": f.Kind}))
	}
	if f.Search != "" {
		conditions = append(conditions, dbx.NewExp(column("key")+` LIKE {:search} ESCAPE '\'`, dbx.Params{"search": "%" + escapeLike(f.Search) + "%"}))
	}

	// The date range reads when a photo was taken when that is known,
	// else when the object was last written.
	dateColumn := column("last_modified")
	if columns.Taken {
		dateColumn = "COALESCE(NULLIF(" + column("taken_at_utc") + ", ''), " + column("last_modified") + ")"
	}
	if f.From != "" {
		conditions = append(conditions, dbx.NewExp(dateColumn+" >= {:from}", dbx.Params{"from": f.From + " 00:00:00.000Z"}))
	}
	if f.To != "" {
		conditions = append(conditions, dbx.NewExp(dateColumn+" <= {:to}", dbx.Params{"to": f.To + " 23:59:59.999Z"}))
	}
	if f.Camera != "" && columns.Camera {
		conditions = append(conditions, dbx.NewExp(column("model")+" = {:camera}", dbx.Params{"camera": f.Camera}))
	}
	if f.GPS && columns.GPS {
		conditions = append(conditions, dbx.NewExp("("+column("gps_lat")+" != 0 OR "+column("gps_lon")+" != 0)"))
	}
	return conditions
}

// escapeLike makes the user's text match literally inside LIKE.
func escapeLike(text string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(text)
}

// gallery is the data of the gallery page and its tile pages.
type gallery struct {
	Filter  galleryFilter
	Columns galleryColumns
	Buckets []string
	Cameras []string
	Kinds   []string
	Tiles   []tile
	More    bool
	Error   string
}

// tile is one object in the grid.
type tile struct {
	ID    string
	Key   string
	Name  string
	Kind  string
	Size  int64
	Thumb string
}

func (s *server) galleryPage(e *core.RequestEvent) error {
	data := s.loadGallery(e.Auth, parseGalleryFilter(e.Request.URL.Query()))
	data.Buckets, data.Cameras = s.filterChoices(e.Auth, data.Columns)
	return s.page(e, http.StatusOK, "gallery", "gallery", data)
}

// tilesFragment is one page of tiles, for scrolling and for a resync.
// The first page makes the grid current, so it also empties the notice
// of new objects; the stream's watcher forgets them on the same resync.
func (s *server) tilesFragment(e *core.RequestEvent) error {
	data := s.loadGallery(e.Auth, parseGalleryFilter(e.Request.URL.Query()))
	if data.Filter.Offset > 0 {
		return s.fragment(e, "tiles", data)
	}
	return s.fragment(e, "tiles-first", data)
}

// NoNotice is the gallery's notice with nothing to announce.
func (g gallery) NoNotice() galleryNotice {
	return galleryNotice{Filter: g.Filter}
}

func (s *server) loadGallery(auth *core.Record, f galleryFilter) gallery {
	data := gallery{Filter: f, Kinds: objectKinds}
	query, objects, ok, err := s.objectsQuery(auth, f)
	if objects != nil {
		data.Columns = columnsOf(objects)
	}
	if err != nil {
		s.logger.Error("gallery query not built", "error", err)
		data.Error = "The gallery could not be read."
		return data
	}
	if !ok {
		data.Error = "You may not list objects."
		return data
	}

	order := sortOrders[f.Sort]
	if f.Sort == "taken" && !data.Columns.Taken {
		order = sortOrders["newest"]
	}

	// One row more than a page tells whether another page exists.
	var records []*core.Record
	err = query.OrderBy(strings.Split(order, ", ")...).Offset(int64(f.Offset)).Limit(pageSize + 1).All(&records)
	if err != nil {
		s.logger.Error("gallery not listed", "error", err)
		data.Error = "The gallery could not be read."
		return data
	}
	if len(records) > pageSize {
		data.More = true
		records = records[:pageSize]
	}
	for _, record := range records {
		data.Tiles = append(data.Tiles, tileOf(record, data.Columns))
	}
	return data
}

func tileOf(record *core.Record, columns galleryColumns) tile {
	key := record.GetString("key")
	t := tile{
		ID:   record.Id,
		Key:  key,
		Name: key[strings.LastIndex(key, "/")+1:],
		Kind: record.GetString("kind"),
		Size: record.GetInt64("size"),
	}
	if columns.Thumbs {
		t.Thumb = fileURL(record, "thumb_small")
	}
	return t
}

// fileURL is PocketBase's public URL of a record's file, or "".
func fileURL(record *core.Record, field string) string {
	name := record.GetString(field)
	if name == "" {
		return ""
	}
	return "/api/files/" + url.PathEscape(record.Collection().Id) + "/" + url.PathEscape(record.Id) + "/" + url.PathEscape(name)
}

// filterChoices lists the buckets and cameras the user can filter by.
func (s *server) filterChoices(auth *core.Record, columns galleryColumns) (buckets, cameras []string) {
	distinct := func(column string) []string {
		query, _, ok, err := s.objectsQuery(auth, galleryFilter{})
		if err != nil || !ok {
			return nil
		}
		var values []string
		err = query.Select(column).Distinct(true).
			AndWhere(dbx.NewExp(column + " != ''")).
			OrderBy(column + " ASC").Limit(500).Column(&values)
		if err != nil {
			s.logger.Warn("filter choices not listed", "column", column, "error", err)
		}
		return values
	}

	buckets = distinct("objects.bucket")
	if columns.Camera {
		cameras = distinct("objects.model")
	}
	return buckets, cameras
}
