package flight

import (
	"context"
	"encoding/json"
	"sort"
	"strings"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/list"
	"github.com/pocketbase/pocketbase/tools/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	sqlite3 "modernc.org/sqlite/lib"
)

// A row deleted over Flight SQL must leave the index as app.Delete would:
// PocketBase's relation fields are plain text columns, not SQLite foreign
// keys, so SQLite itself knows nothing of them. After each statement that
// deleted collection rows, and still inside its transaction, the rules of
// every relation field that points at a deleted record are applied:
//
//   - cascadeDelete, and no other id left in the field: the referring
//     record is deleted too (and its own references follow);
//   - otherwise the id is removed from the field, and the record's
//     autodate-on-update fields are touched, as PocketBase does;
//   - a required field that would be left empty refuses the whole
//     statement with FailedPrecondition, and nothing of it remains.
//
// Every row this changes is captured like the statement's own rows, so
// realtime subscribers hear of it after commit. The files of deleted
// records and the auth records' MFAs, OTPs and external auths are removed
// by PocketBase's own after-delete hooks, which emit (changes.go) fires.

// statementSavepoint undoes one statement and its cascade when a rule
// refuses it.
const statementSavepoint = "arrow_mino_statement"

// cascader applies relation rules on a writer's connection.
type cascader struct {
	app core.App
	w   *writer
}

// referenced reports whether any relation field of app points at a table
// collection, i.e. whether deletes can have consequences at all.
func referenced(app core.App) bool {
	collections, err := cachedCollections(app)
	if err != nil {
		// Unknown schema: assume deletes may cascade.
		return true
	}
	for _, c := range collections {
		if c.IsView() {
			continue
		}
		for _, f := range c.Fields {
			if _, ok := f.(*core.RelationField); ok {
				return true
			}
		}
	}
	return false
}

// apply runs the relation rules for every deletion of the running
// statement, including the deletions the rules themselves make.
func (cs *cascader) apply(ctx context.Context) error {
	for i := 0; ; i++ {
		c, ok := cs.w.changes.statementChange(i)
		if !ok {
			return nil
		}
		if c.op != sqlite3.SQLITE_DELETE {
			continue
		}

		id, err := cs.deletedID(c)
		if err != nil {
			return err
		}
		if id == "" {
			continue
		}
		// INSERT OR REPLACE deletes the old row and inserts one with the
		// same id: the record was replaced, not removed.
		replaced, err := cs.stillExists(ctx, c.collection, id)
		if err != nil {
			return err
		}
		if replaced {
			continue
		}

		if err := cs.applyReferences(ctx, c.collection, id); err != nil {
			return err
		}

		if dropped := cs.w.changes.statementDropped(); dropped != "" {
			return tooManyChanges(dropped)
		}
	}
}

// tooManyChanges refuses a statement whose changes did not all fit the
// capture: they could be neither validated nor cascaded.
func tooManyChanges(collection string) error {
	return status.Errorf(codes.ResourceExhausted,
		"the statement changed more than %d rows of PocketBase collections (%q among them); each is validated and has its relation rules applied, so split it into smaller statements, or use bulk ingest",
		maxStatementChanges, collection)
}

// deletedID reads the id column of a captured deleted row.
func (cs *cascader) deletedID(c rowChange) (string, error) {
	rec, err := cs.w.changes.deletedRecord(cs.app, c)
	if err != nil {
		return "", status.Errorf(codes.Internal, "reading a deleted row of %q to apply relation rules: %v", c.collection.Name, err)
	}
	if rec == nil {
		return "", status.Errorf(codes.Internal, "a deleted row of %q could not be read to apply relation rules", c.collection.Name)
	}
	return rec.Id, nil
}

// stillExists reports whether collection has a record with id now.
func (cs *cascader) stillExists(ctx context.Context, collection *core.Collection, id string) (bool, error) {
	var found int
	err := cs.w.internal(func() error {
		stmt, err := cs.w.prepared(ctx, "SELECT count(*) FROM "+quoteIdent(collection.Name)+" WHERE id = ?")
		if err != nil {
			return err
		}
		return stmt.QueryRowContext(ctx, id).Scan(&found)
	})
	if err != nil {
		return false, status.Errorf(codes.Internal, "looking up record %s of %q: %v", id, collection.Name, err)
	}
	return found > 0, nil
}

// applyReferences applies the rules of every relation field that points
// at collection to the records that refer to id.
func (cs *cascader) applyReferences(ctx context.Context, collection *core.Collection, id string) error {
	refs, err := cs.app.FindCachedCollectionReferences(collection)
	if err != nil {
		return status.Errorf(codes.Internal, "finding relation fields that point at %q: %v", collection.Name, err)
	}

	// In name order, like PocketBase, so cascades happen in a stable order.
	referring := make([]*core.Collection, 0, len(refs))
	for c := range refs {
		referring = append(referring, c)
	}
	sort.Slice(referring, func(i, j int) bool { return referring[i].Name < referring[j].Name })

	for _, refCollection := range referring {
		if refCollection.IsView() {
			continue
		}
		for _, field := range refs[refCollection] {
			relation, ok := field.(*core.RelationField)
			if !ok {
				continue
			}
			if err := cs.applyField(ctx, collection, id, refCollection, relation); err != nil {
				return err
			}
		}
	}
	return nil
}

// referrer is one record whose relation field holds a deleted id.
type referrer struct {
	id  string
	ids []string
}

// applyField applies one relation field's rule to the records holding id.
func (cs *cascader) applyField(ctx context.Context, target *core.Collection, id string, refCollection *core.Collection, field *core.RelationField) error {
	referrers, err := cs.findReferrers(ctx, target, id, refCollection, field)
	if err != nil {
		return err
	}

	table := quoteIdent(refCollection.Name)
	for _, ref := range referrers {
		remaining := make([]string, 0, len(ref.ids))
		for _, v := range ref.ids {
			if v != id {
				remaining = append(remaining, v)
			}
		}

		switch {
		case field.CascadeDelete && len(remaining) == 0:
			err = cs.exec(ctx, "DELETE FROM "+table+" WHERE id = ?", ref.id)

		case field.Required && len(remaining) == 0:
			return status.Errorf(codes.FailedPrecondition,
				"record %s of %q cannot be deleted: it is the only value of the required relation field %q of record %s (collection %q); nothing was changed",
				id, target.Name, field.Name, ref.id, refCollection.Name)

		default:
			err = cs.unset(ctx, refCollection, field, ref.id, remaining)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// findReferrers lists the records of refCollection whose field holds id.
// Identifiers come from the collection schema, never from the client.
func (cs *cascader) findReferrers(ctx context.Context, target *core.Collection, id string, refCollection *core.Collection, field *core.RelationField) ([]referrer, error) {
	table, column := quoteIdent(refCollection.Name), quoteIdent(field.Name)

	where := column + " = ?"
	if field.IsMultiple() {
		where = "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(" + column + ") AND json_type(" + column +
			") = 'array' THEN " + column + " ELSE json_array(" + column + ") END) WHERE value = ?)"
	}
	args := []any{id}
	if refCollection.Id == target.Id {
		where += " AND id != ?"
		args = append(args, id)
	}

	var found []referrer
	err := cs.w.internal(func() error {
		rows, err := cs.w.g.conn.QueryContext(ctx, "SELECT id, "+column+" FROM "+table+" WHERE "+where, args...)
		if err != nil {
			return err
		}
		defer rows.Close()

		for rows.Next() {
			var refID string
			var value any
			if err := rows.Scan(&refID, &value); err != nil {
				return err
			}
			found = append(found, referrer{id: refID, ids: list.ToUniqueStringSlice(textOf(value))})
		}
		return rows.Err()
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "finding records of %q that refer to %s: %v", refCollection.Name, id, err)
	}
	return found, nil
}

// unset writes the field's remaining ids and touches the record's
// autodate-on-update fields.
func (cs *cascader) unset(ctx context.Context, refCollection *core.Collection, field *core.RelationField, refID string, remaining []string) error {
	var value any = strings.Join(remaining, "")
	if field.IsMultiple() {
		encoded, err := json.Marshal(remaining)
		if err != nil {
			return status.Errorf(codes.Internal, "encoding relation ids: %v", err)
		}
		value = string(encoded)
	}

	sets := []string{quoteIdent(field.Name) + " = ?"}
	args := []any{value}
	now := types.NowDateTime().String()
	for _, f := range refCollection.Fields {
		if autodate, ok := f.(*core.AutodateField); ok && autodate.OnUpdate {
			sets = append(sets, quoteIdent(autodate.Name)+" = ?")
			args = append(args, now)
		}
	}
	args = append(args, refID)

	return cs.exec(ctx, "UPDATE "+quoteIdent(refCollection.Name)+" SET "+strings.Join(sets, ", ")+" WHERE id = ?", args...)
}

// exec runs one of the server's own statements on the writer.
func (cs *cascader) exec(ctx context.Context, query string, args ...any) error {
	err := cs.w.internal(func() error {
		_, err := cs.w.g.conn.ExecContext(ctx, query, args...)
		return err
	})
	if err != nil {
		return cs.w.g.sqlError("applying a relation rule", err)
	}
	return nil
}

// textOf turns a driver value into text ([]byte included).
func textOf(v any) any {
	switch v := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(v)
	default:
		return v
	}
}
