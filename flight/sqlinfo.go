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
	flightsql.SqlInfoFlightSqlServerReadOnly:           false,
	flightsql.SqlInfoFlightSqlServerSql:                true,
	flightsql.SqlInfoFlightSqlServerSubstrait:          false,
	flightsql.SqlInfoFlightSqlServerTransaction:        int32(flightsql.SqlTransactionSavepoint),
	flightsql.SqlInfoFlightSqlServerCancel:             true,
	flightsql.SqlInfoFlightSqlServerBulkIngestion:      true,
	flightsql.SqlInfoFlightSqlServerStatementTimeout:   int32(0),
	flightsql.SqlInfoFlightSqlServerTransactionTimeout: int32(0),
	flightsql.SqlInfoTransactionsSupported:             true,
	flightsql.SqlInfoDDLCatalog:                        false,
	flightsql.SqlInfoDDLSchema:                         false,
	flightsql.SqlInfoDDLTable:                          true,
	flightsql.SqlInfoIdentifierQuoteChar:               `"`,

	// The rest of the key set, with the value types of the Flight SQL
	// spec (bool, int32 enums and bitmasks, int64 lengths) that JDBC casts.
	flightsql.SqlInfoFlightSqlServerIngestTransactionsSupported:          true,
	flightsql.SqlInfoIdentifierCase:                                      int32(3), // case insensitive
	flightsql.SqlInfoQuotedIdentifierCase:                                int32(3),
	flightsql.SqlInfoAllTablesAreASelectable:                             true,
	flightsql.SqlInfoNullOrdering:                                        int32(1), // nulls sorted low
	flightsql.SqlInfoExtraNameChars:                                      "",
	flightsql.SqlInfoSupportsColumnAliasing:                              true,
	flightsql.SqlInfoNullPlusNullIsNull:                                  true,
	flightsql.SqlInfoSupportsTableCorrelationNames:                       true,
	flightsql.SqlInfoSupportsDifferentTableCorrelationNames:              false,
	flightsql.SqlInfoSupportsExpressionsInOrderBy:                        true,
	flightsql.SqlInfoSupportsOrderByUnrelated:                            true,
	flightsql.SqlInfoSupportedGroupBy:                                    int32(3), // unrelated | beyond select
	flightsql.SqlInfoSupportsLikeEscapeClause:                            true,
	flightsql.SqlInfoSupportsNonNullableColumns:                          true,
	flightsql.SqlInfoSupportedGrammar:                                    int32(1), // minimum
	flightsql.SqlInfoANSI92SupportedLevel:                                int32(1), // entry
	flightsql.SqlInfoSupportsIntegrityEnhancementFacility:                true,
	flightsql.SqlInfoOuterJoinsSupportLevel:                              int32(2), // full
	flightsql.SqlInfoSchemaTerm:                                          "schema",
	flightsql.SqlInfoProcedureTerm:                                       "",
	flightsql.SqlInfoCatalogTerm:                                         "",
	flightsql.SqlInfoCatalogAtStart:                                      false,
	flightsql.SqlInfoSchemasSupportedActions:                             int32(0),
	flightsql.SqlInfoCatalogsSupportedActions:                            int32(0),
	flightsql.SqlInfoSupportedPositionedCommands:                         int32(0),
	flightsql.SqlInfoSelectForUpdateSupported:                            false,
	flightsql.SqlInfoStoredProceduresSupported:                           false,
	flightsql.SqlInfoSupportedSubqueries:                                 int32(15),
	flightsql.SqlInfoCorrelatedSubqueriesSupported:                       true,
	flightsql.SqlInfoSupportedUnions:                                     int32(3),
	flightsql.SqlInfoMaxBinaryLiteralLen:                                 int64(1000000000),
	flightsql.SqlInfoMaxCharLiteralLen:                                   int64(1000000000),
	flightsql.SqlInfoMaxColumnNameLen:                                    int64(0),
	flightsql.SqlInfoMaxColumnsInGroupBy:                                 int64(0),
	flightsql.SqlInfoMaxColumnsInIndex:                                   int64(2000),
	flightsql.SqlInfoMaxColumnsInOrderBy:                                 int64(0),
	flightsql.SqlInfoMaxColumnsInSelect:                                  int64(2000),
	flightsql.SqlInfoMaxColumnsInTable:                                   int64(2000),
	flightsql.SqlInfoMaxConnections:                                      int64(0),
	flightsql.SqlInfoMaxCursorNameLen:                                    int64(0),
	flightsql.SqlInfoMaxIndexLen:                                         int64(0),
	flightsql.SqlInfoDBSchemaNameLen:                                     int64(0),
	flightsql.SqlInfoMaxProcedureNameLen:                                 int64(0),
	flightsql.SqlInfoMaxCatalogNameLen:                                   int64(0),
	flightsql.SqlInfoMaxRowSize:                                          int64(1000000000),
	flightsql.SqlInfoMaxRowSizeIncludesBlobs:                             true,
	flightsql.SqlInfoMaxStatementLen:                                     int64(1000000000),
	flightsql.SqlInfoMaxStatements:                                       int64(0),
	flightsql.SqlInfoMaxTableNameLen:                                     int64(0),
	flightsql.SqlInfoMaxTablesInSelect:                                   int64(64),
	flightsql.SqlInfoMaxUsernameLen:                                      int64(0),
	flightsql.SqlInfoDefaultTransactionIsolation:                         int32(8), // serializable
	flightsql.SqlInfoSupportedTransactionsIsolationlevels:                int32(1 << 4),
	flightsql.SqlInfoDataDefinitionCausesTransactionCommit:               false,
	flightsql.SqlInfoDataDefinitionsInTransactionsIgnored:                false,
	flightsql.SqlInfoSupportedResultSetTypes:                             int32(1 << 1), // forward only
	flightsql.SqlInfoSupportedConcurrenciesForResultSetUnspecified:       int32(0),
	flightsql.SqlInfoSupportedConcurrenciesForResultSetForwardOnly:       int32(1 << 1), // read only
	flightsql.SqlInfoSupportedConcurrenciesForResultSetScrollSensitive:   int32(0),
	flightsql.SqlInfoSupportedConcurrenciesForResultSetScrollInsensitive: int32(0),
	flightsql.SqlInfoBatchUpdatesSupported:                               true,
	flightsql.SqlInfoSavePointsSupported:                                 true,
	flightsql.SqlInfoNamedParametersSupported:                            false,
	flightsql.SqlInfoLocatorsUpdateCopy:                                  false,
	flightsql.SqlInfoStoredFunctionsUsingCallSyntaxSupported:             false,
	flightsql.SqlInfoSearchStringEscape:                                  `\`,
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
