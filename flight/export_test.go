package flight

// RawConnsInUse reports how many raw scan connections s holds open.
func RawConnsInUse(s *Server) int { return len(s.rawSlots) }
