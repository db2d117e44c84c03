/// A process-wide value read on hot paths and set only before threads or
/// workers start. A read of a public static `var` from a loop was a dynamic
/// exclusivity check (`swift_beginAccess`, ~100 instructions): the names'
/// limit, checked per name, cost ~2% of a load's instructions. Behind a `let`
/// pointer a read is a load.
public final class ProcessSetting<Value>: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<Value>

    public init(_ value: Value) {
        storage = .allocate(capacity: 1)
        storage.initialize(to: value)
    }

    public var value: Value {
        @inline(__always) get { storage.pointee }
        set { storage.pointee = newValue }
    }
}
