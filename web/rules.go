package web

import (
	"fmt"
	"net/http"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/search"
)

// requestInfoFor is the rule context of a signed-in user outside any one
// request: rules that read @request.auth behave as in the REST API;
// rules that read the request's query or body see none.
func requestInfoFor(auth *core.Record) *core.RequestInfo {
	return &core.RequestInfo{
		Context: core.RequestInfoContextDefault,
		Method:  http.MethodGet,
		Auth:    auth,
		Query:   map[string]string{},
		Headers: map[string]string{},
		Body:    map[string]any{},
	}
}

// listQuery is a query of the collection's records limited by its list
// rule for this user, as the REST API's list endpoint limits it. ok is
// false when the user may list nothing at all.
func listQuery(app core.App, collection *core.Collection, auth *core.Record) (query *dbx.SelectQuery, ok bool, err error) {
	query = app.RecordQuery(collection)
	if auth != nil && auth.IsSuperuser() {
		return query, true, nil
	}
	if collection.ListRule == nil {
		return nil, false, nil
	}
	if *collection.ListRule == "" {
		return query, true, nil
	}

	resolver := core.NewRecordFieldResolver(app, collection, requestInfoFor(auth), true)
	expr, err := search.FilterData(*collection.ListRule).BuildExpr(resolver)
	if err != nil {
		return nil, false, fmt.Errorf("build list rule of %s: %w", collection.Name, err)
	}
	query.AndWhere(expr)
	if err := resolver.UpdateQuery(query); err != nil {
		return nil, false, fmt.Errorf("apply list rule of %s: %w", collection.Name, err)
	}
	return query, true, nil
}

// canView says whether the user may view one record under its
// collection's view rule.
func canView(app core.App, record *core.Record, auth *core.Record) bool {
	ok, err := app.CanAccessRecord(record, requestInfoFor(auth), record.Collection().ViewRule)
	return err == nil && ok
}

// findViewable loads a record the user may view, or says why not.
func findViewable(app core.App, collection, id string, auth *core.Record) (*core.Record, error) {
	record, err := app.FindRecordById(collection, id)
	if err != nil {
		return nil, err
	}
	if !canView(app, record, auth) {
		return nil, errNotVisible
	}
	return record, nil
}

// errNotVisible hides whether a record exists from users who may not see it.
var errNotVisible = fmt.Errorf("record not visible")

// hasField says whether a collection has a column; the media columns
// appear only once their migration ran.
func hasField(collection *core.Collection, name string) bool {
	return collection.Fields.GetByName(name) != nil
}
