package flight

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/schema_ref"
)

// sqlInfo is what GetSqlInfo reports. ADBC reads the transaction kind
// (id 8, int32) when it connects; JDBC reads the keyword and function
// lists (508-512) and fails on servers that omit them.
var sqlInfo = map[flightsql.SqlInfo]any{
	flightsql.SqlInfoFlightSqlServerName:               "arrow-mino",
	flightsql.SqlInfoFlightSqlServerVersion:            "0.1.0",
	flightsql.SqlInfoFlightSqlServerArrowVersion:       "18.9.0",
	flightsql.SqlInfoFlightSqlServerReadOnly:           true,
	flightsql.SqlInfoFlightSqlServerSql:                true,
	flightsql.SqlInfoFlightSqlServerSubstrait:          false,
	flightsql.SqlInfoFlightSqlServerTransaction:        int32(flightsql.SqlTransactionNone),
	flightsql.SqlInfoFlightSqlServerCancel:             false,
	flightsql.SqlInfoFlightSqlServerBulkIngestion:      false,
	flightsql.SqlInfoFlightSqlServerStatementTimeout:   int32(0),
	flightsql.SqlInfoFlightSqlServerTransactionTimeout: int32(0),
	flightsql.SqlInfoTransactionsSupported:             false,
	flightsql.SqlInfoDDLCatalog:                        false,
	flightsql.SqlInfoDDLSchema:                         false,
	flightsql.SqlInfoDDLTable:                          false,
	flightsql.SqlInfoIdentifierQuoteChar:               `"`,
	flightsql.SqlInfoSearchStringEscape:                `\`,
	flightsql.SqlInfoKeywords: []string{
		"ABORT", "AUTOINCREMENT", "CONFLICT", "GLOB", "INDEXED", "ISNULL", "NOTNULL",
		"PRAGMA", "RAISE", "REGEXP", "REINDEX", "VACUUM", "WITHOUT",
	},
	flightsql.SqlInfoNumericFunctions: []string{
		"abs", "ceil", "floor", "round", "max", "min", "random", "sign", "sqrt", "pow", "log", "exp",
	},
	flightsql.SqlInfoStringFunctions: []string{
		"instr", "length", "lower", "ltrim", "printf", "replace", "rtrim", "substr", "trim", "upper", "hex",
	},
	flightsql.SqlInfoSystemFunctions: []string{"coalesce", "ifnull", "iif", "nullif", "typeof"},
	flightsql.SqlInfoDateTimeFunctions: []string{
		"date", "time", "datetime", "julianday", "unixepoch", "strftime",
	},
}

// registerSqlInfo loads sqlInfo into the embedded BaseServer.
func (s *Server) registerSqlInfo() error {
	for id, v := range sqlInfo {
		if err := s.RegisterSqlInfo(id, v); err != nil {
			return fmt.Errorf("registering sql info %d: %w", id, err)
		}
	}
	return nil
}

// knownInfo filters a GetSqlInfo request down to the ids we have.
type knownInfo struct{ ids []uint32 }

func (k knownInfo) GetInfo() []uint32 { return k.ids }

// DoGetSqlInfo answers the requested ids it knows and skips the others:
// one unknown id must not fail the whole call, since clients ask for ids
// from newer protocol versions.
func (s *Server) DoGetSqlInfo(ctx context.Context, cmd flightsql.GetSqlInfo) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	requested := cmd.GetInfo()
	if len(requested) == 0 {
		return s.BaseServer.DoGetSqlInfo(ctx, cmd)
	}

	known := make([]uint32, 0, len(requested))
	for _, id := range requested {
		if _, ok := sqlInfo[flightsql.SqlInfo(id)]; ok {
			known = append(known, id)
		}
	}

	if len(known) == 0 {
		// An empty list would mean "everything" to BaseServer, so answer
		// with the schema and no rows.
		ch := make(chan flight.StreamChunk)
		close(ch)
		return schema_ref.SqlInfo, ch, nil
	}

	return s.BaseServer.DoGetSqlInfo(ctx, knownInfo{ids: known})
}
