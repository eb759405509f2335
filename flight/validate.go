package flight

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/list"
	"github.com/pocketbase/pocketbase/tools/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	sqlite3 "modernc.org/sqlite/lib"
)

// Rows that a Flight SQL statement inserts into or updates in a
// PocketBase collection are checked against the collection's fields, as
// app.Save would check them, while the statement's transaction is still
// open: a failure undoes the statement and names the record and field.
// Their autodate fields are stamped as PocketBase stamps them (created on
// insert, updated on insert and update).
//
// What differs from app.Save: relation ids are looked up on the writer's
// own connection, so a record inserted earlier in the same transaction
// counts; secret columns (password, tokenKey) are never read, so they are
// not checked; file fields are checked for count and presence only, since
// files cannot be uploaded through SQL; record ids cannot be changed at
// all (the write policy refuses it, guard.go); Go hooks bound to
// OnRecordValidate do not run.

// checker validates and stamps the rows of one writer.
type checker struct {
	app core.App
	w   *writer
}

// checkStatement validates every row the running statement inserted or
// updated, then stamps their autodate fields.
func (ck *checker) checkStatement(ctx context.Context) error {
	if dropped := ck.w.changes.statementDropped(); dropped != "" {
		return tooManyChanges(dropped)
	}

	type rowKey struct {
		collection string
		rowid      int64
	}
	seen := map[rowKey]bool{}

	n := ck.w.changes.statementSize()
	for i := range n {
		c, _ := ck.w.changes.statementChange(i)
		if c.op == sqlite3.SQLITE_DELETE {
			continue
		}
		key := rowKey{c.collection.Id, c.rowid}
		if seen[key] {
			continue
		}
		seen[key] = true

		record, stored, err := ck.load(ctx, c)
		if err != nil {
			return err
		}
		if record == nil {
			// Deleted again by the same statement.
			continue
		}
		if err := ck.validate(ctx, record, c.op == sqlite3.SQLITE_INSERT); err != nil {
			return err
		}
		if err := ck.rewrite(ctx, c, record, stored); err != nil {
			return err
		}
		c.detail.remember(record)
	}
	return nil
}

// load reads the changed row back from the writer's connection: as a
// record (values prepared by the fields, as PocketBase reads them) and as
// stored, column by column.
func (ck *checker) load(ctx context.Context, c rowChange) (*core.Record, map[string]any, error) {
	data := map[string]any{}
	found := false
	err := ck.w.internal(func() error {
		stmt, err := ck.w.prepared(ctx, "SELECT * FROM "+quoteIdent(c.collection.Name)+" WHERE rowid = ?")
		if err != nil {
			return err
		}
		rows, err := stmt.QueryContext(ctx, c.rowid)
		if err != nil {
			return err
		}
		defer rows.Close()

		names, err := rows.Columns()
		if err != nil {
			return err
		}
		if !rows.Next() {
			return rows.Err()
		}
		values := make([]any, len(names))
		pointers := make([]any, len(names))
		for i := range values {
			pointers[i] = &values[i]
		}
		if err := rows.Scan(pointers...); err != nil {
			return err
		}
		for i, n := range names {
			data[n] = textOf(values[i])
		}
		found = true
		return rows.Err()
	})
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "reading back a changed row of %q: %v", c.collection.Name, err)
	}
	if !found {
		return nil, nil, nil
	}

	record := core.NewRecord(c.collection)
	record.Load(data)
	if c.op != sqlite3.SQLITE_INSERT {
		record.MarkAsNotNew()
	}
	return record, data, nil
}

// validate runs the collection's field checks on one record.
func (ck *checker) validate(ctx context.Context, record *core.Record, isNew bool) error {
	collection := record.Collection()
	problems := map[string]error{}

	for _, field := range collection.Fields {
		name := field.GetName()
		if ck.w.g.policy.isHidden(collection.Name, name) {
			continue
		}

		var err error
		switch f := field.(type) {
		case *core.AutodateField, *core.PasswordField:
			// Stamped below, or secret.
		case *core.RelationField:
			err = ck.validateRelation(ctx, record, f)
		case *core.FileField:
			err = validateFileCount(record, f)
		case *core.TextField:
			if f.PrimaryKey && !isNew {
				continue // ids cannot change over Flight SQL (guard.go)
			}
			err = f.ValidateValue(ctx, ck.app, record)
		default:
			err = field.ValidateValue(ctx, ck.app, record)
		}
		if err != nil {
			problems[name] = err
		}
	}
	if len(problems) == 0 {
		return nil
	}

	names := make([]string, 0, len(problems))
	for n := range problems {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s: %s", n, problems[n]))
	}
	return status.Errorf(codes.InvalidArgument,
		"record %s of %q fails PocketBase's field rules (%s); nothing was changed",
		record.Id, collection.Name, strings.Join(parts, "; "))
}

// validateRelation checks a relation field like PocketBase does, with
// the lookup on the writer's connection.
func (ck *checker) validateRelation(ctx context.Context, record *core.Record, field *core.RelationField) error {
	ids := list.ToUniqueStringSlice(record.GetRaw(field.Name))
	switch {
	case len(ids) == 0 && field.Required:
		return errRequired
	case len(ids) == 0:
		return nil
	case field.MinSelect > 0 && len(ids) < field.MinSelect:
		return fmt.Errorf("select at least %d", field.MinSelect)
	case len(ids) > max(field.MaxSelect, 1):
		return fmt.Errorf("select no more than %d", max(field.MaxSelect, 1))
	}

	target, err := ck.app.FindCachedCollectionByNameOrId(field.CollectionId)
	if err != nil {
		return errors.New("the related collection is missing")
	}

	placeholders := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	var found int
	err = ck.w.internal(func() error {
		stmt, err := ck.w.prepared(ctx, "SELECT count(*) FROM "+quoteIdent(target.Name)+" WHERE id IN ("+placeholders+")")
		if err != nil {
			return err
		}
		return stmt.QueryRowContext(ctx, args...).Scan(&found)
	})
	if err != nil {
		return fmt.Errorf("looking up related records: %w", err)
	}
	if found != len(ids) {
		return fmt.Errorf("some related records of %q do not exist", target.Name)
	}
	return nil
}

// validateFileCount checks a file field's presence and count; its names
// can only have come from PocketBase, as SQL cannot upload files.
func validateFileCount(record *core.Record, field *core.FileField) error {
	files := record.GetStringSlice(field.Name)
	if len(files) == 0 && field.Required {
		return errRequired
	}
	if limit := max(field.MaxSelect, 1); len(files) > limit {
		return fmt.Errorf("the maximum allowed files is %d", limit)
	}
	return nil
}

// rewrite makes the stored row what app.Save would have stored: values
// in the fields' own form (a number for a number field, one id for a
// single relation, no repeated ids, a listed value for a select), and
// the autodate fields stamped (created and updated on insert when empty,
// updated on update). The rewrite is not captured again; the row's
// change already was.
func (ck *checker) rewrite(ctx context.Context, c rowChange, record *core.Record, stored map[string]any) error {
	exported, err := record.DBExport(ck.app)
	if err != nil {
		return status.Errorf(codes.Internal, "exporting record %s of %q: %v", record.Id, c.collection.Name, err)
	}

	inserted := c.op == sqlite3.SQLITE_INSERT
	now := types.NowDateTime().String()

	var sets []string
	var args []any
	for _, f := range c.collection.Fields {
		name := f.GetName()
		column := quoteIdent(name)

		switch f := f.(type) {
		case *core.AutodateField:
			if (inserted && (f.OnCreate || f.OnUpdate) && record.GetString(name) == "") || (!inserted && f.OnUpdate) {
				sets = append(sets, column+" = ?")
				args = append(args, now)
			}
			continue
		case *core.PasswordField:
			continue
		}
		if name == core.FieldNameId || ck.w.g.policy.isHidden(c.collection.Name, name) {
			continue
		}

		want, ok := exported[name]
		if !ok {
			continue
		}
		want, err := storageValue(want)
		if err != nil {
			return status.Errorf(codes.Internal, "exporting %s of record %s: %v", name, record.Id, err)
		}
		if !sameStored(stored[name], want) {
			sets = append(sets, column+" = ?")
			args = append(args, want)
		}
	}
	if len(sets) == 0 {
		return nil
	}
	args = append(args, c.rowid)

	ck.w.changes.mute(true)
	defer ck.w.changes.mute(false)

	err = ck.w.internal(func() error {
		stmt, err := ck.w.prepared(ctx, "UPDATE "+quoteIdent(c.collection.Name)+" SET "+strings.Join(sets, ", ")+" WHERE rowid = ?")
		if err != nil {
			return err
		}
		_, err = stmt.ExecContext(ctx, args...)
		return err
	})
	if err != nil {
		return ck.w.g.sqlError("storing the record as PocketBase would", err)
	}
	return nil
}

// storageValue turns an exported record value into what SQLite stores.
func storageValue(v any) (any, error) {
	switch v := v.(type) {
	case driver.Valuer:
		return v.Value()
	case bool:
		if v {
			return int64(1), nil
		}
		return int64(0), nil
	default:
		return v, nil
	}
}

// sameStored compares a stored column value with the value PocketBase
// would store, across SQLite's storage classes.
func sameStored(stored, want any) bool {
	switch want := want.(type) {
	case nil:
		return stored == nil
	case float64:
		switch s := stored.(type) {
		case int64:
			return float64(s) == want
		case float64:
			return s == want
		}
		return false
	case int64:
		switch s := stored.(type) {
		case int64:
			return s == want
		case float64:
			return s == float64(want)
		}
		return false
	case string:
		s, ok := stored.(string)
		return ok && s == want
	case []byte:
		s, ok := stored.(string)
		return ok && s == string(want)
	default:
		return fmt.Sprint(stored) == fmt.Sprint(want)
	}
}

// errRequired is PocketBase's wording for an empty required field.
var errRequired = errors.New("cannot be blank")
