package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/pocketbase/pocketbase/core"
)

// exportBatch is how many rows go into one flushed CSV chunk or Arrow
// record batch, so long results stream instead of piling up in memory.
const exportBatch = 1024

// consoleExport streams a query's whole result as CSV or Arrow IPC.
func (s *server) consoleExport(e *core.RequestEvent) error {
	query, err := consoleQuery(e)
	if err != nil {
		return s.errorPage(e, http.StatusBadRequest, err.Error())
	}
	format := e.Request.FormValue("format")
	if format != "csv" && format != "arrow" {
		return s.errorPage(e, http.StatusBadRequest, "Choose CSV or Arrow.")
	}

	ctx, cancel := context.WithTimeout(e.Request.Context(), consoleTimeout)
	defer cancel()
	result, err := s.console.Query(ctx, query)
	if err != nil {
		return s.errorPage(e, http.StatusBadRequest, err.Error())
	}
	defer result.Close()

	// Errors after the header was sent can only cut the download short;
	// they are logged.
	var rows int
	if format == "csv" {
		e.Response.Header().Set("Content-Type", "text/csv; charset=utf-8")
		e.Response.Header().Set("Content-Disposition", `attachment; filename="result.csv"`)
		rows, err = writeCSV(e, result)
	} else {
		e.Response.Header().Set("Content-Type", "application/vnd.apache.arrow.stream")
		e.Response.Header().Set("Content-Disposition", `attachment; filename="result.arrows"`)
		rows, err = writeArrow(e, result)
	}
	if err != nil {
		s.logger.Warn("console export cut short", "format", format, "rows", rows, "error", err)
		return nil
	}
	s.logger.Info("console export", "user", e.Auth.Email(), "format", format, "rows", rows)
	return nil
}

func writeCSV(e *core.RequestEvent, result *queryResult) (int, error) {
	out := csv.NewWriter(e.Response)
	header := make([]string, len(result.Columns))
	for i, column := range result.Columns {
		header[i] = column.Name
	}
	if err := out.Write(header); err != nil {
		return 0, fmt.Errorf("write csv header: %w", err)
	}

	rows := 0
	for {
		row, err := result.Next()
		if err != nil {
			return rows, err
		}
		if row == nil {
			break
		}
		if err := out.Write(textRow(row)); err != nil {
			return rows, fmt.Errorf("write csv row: %w", err)
		}
		rows++
		if rows%exportBatch == 0 {
			out.Flush()
			e.Flush()
		}
	}
	out.Flush()
	return rows, out.Error()
}

// arrowType maps a column's declared SQLite type to an Arrow type, by
// SQLite's own affinity rules; columns without one (expressions) become
// text, since their values may change type from row to row.
func arrowType(declared string) arrow.DataType {
	upper := strings.ToUpper(declared)
	switch {
	case strings.Contains(upper, "INT"):
		return arrow.PrimitiveTypes.Int64
	case strings.Contains(upper, "BOOL"):
		return arrow.FixedWidthTypes.Boolean
	case strings.Contains(upper, "REAL"), strings.Contains(upper, "FLOA"), strings.Contains(upper, "DOUB"), upper == "NUMERIC":
		return arrow.PrimitiveTypes.Float64
	case upper == "BLOB":
		return arrow.BinaryTypes.Binary
	}
	return arrow.BinaryTypes.String
}

func writeArrow(e *core.RequestEvent, result *queryResult) (int, error) {
	fields := make([]arrow.Field, len(result.Columns))
	for i, column := range result.Columns {
		fields[i] = arrow.Field{Name: column.Name, Type: arrowType(column.Type), Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)

	writer := ipc.NewWriter(e.Response, ipc.WithSchema(schema))
	builder := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer builder.Release()

	flush := func() error {
		batch := builder.NewRecordBatch()
		defer batch.Release()
		if err := writer.Write(batch); err != nil {
			return fmt.Errorf("write arrow batch: %w", err)
		}
		return e.Flush()
	}

	rows, pending := 0, 0
	for {
		row, err := result.Next()
		if err != nil {
			return rows, err
		}
		if row == nil {
			break
		}
		for i, value := range row {
			appendValue(builder.Field(i), value)
		}
		rows++
		pending++
		if pending == exportBatch {
			if err := flush(); err != nil {
				return rows, err
			}
			pending = 0
		}
	}
	if pending > 0 || rows == 0 {
		if err := flush(); err != nil {
			return rows, err
		}
	}
	return rows, writer.Close()
}

// appendValue adds one SQLite value to a column builder, converting
// between SQLite's dynamic types; what cannot convert becomes null.
func appendValue(builder array.Builder, value any) {
	if value == nil {
		builder.AppendNull()
		return
	}
	text := fmt.Sprint(value)
	if raw, ok := value.([]byte); ok {
		text = string(raw)
	}

	switch b := builder.(type) {
	case *array.Int64Builder:
		switch v := value.(type) {
		case int64:
			b.Append(v)
		case float64:
			b.Append(int64(v))
		default:
			if n, err := strconv.ParseInt(text, 10, 64); err == nil {
				b.Append(n)
			} else {
				b.AppendNull()
			}
		}
	case *array.Float64Builder:
		switch v := value.(type) {
		case int64:
			b.Append(float64(v))
		case float64:
			b.Append(v)
		default:
			if n, err := strconv.ParseFloat(text, 64); err == nil {
				b.Append(n)
			} else {
				b.AppendNull()
			}
		}
	case *array.BooleanBuilder:
		switch v := value.(type) {
		case int64:
			b.Append(v != 0)
		case bool:
			b.Append(v)
		default:
			b.Append(text == "1" || strings.EqualFold(text, "true"))
		}
	case *array.BinaryBuilder:
		b.Append([]byte(text))
	case *array.StringBuilder:
		b.Append(textRow([]any{value})[0])
	default:
		builder.AppendNull()
	}
}
