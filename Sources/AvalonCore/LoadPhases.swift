/// Where a load is: the store and the builder name each phase as it ends,
/// for a bench to time (`avalon-bench load` with AVALON_BENCH_PHASES=1).
/// Nobody listens otherwise; set before loading, never during.
public enum LoadPhases {
    nonisolated(unsafe) public static var ended: ((String) -> Void)?
}

@inline(__always)
func phase(_ what: String) { LoadPhases.ended?(what) }
