/// The place one named child lives in its parent. Typed references (`@Child`) and the parent's
/// registry share the same slot, so `replaceModule(at:with:)` and a typed property always agree, and
/// a forward pass reads its children without a string lookup.
public class ChildSlot {
    /// The child's name in its parent (one segment of a dotted path).
    public let name: String
    /// The module currently in the slot (nil only before registration).
    public internal(set) var module: Module?

    init(name: String) {
        precondition(!name.isEmpty && !name.contains("."), "child name '\(name)' must be non-empty and contain no '.'")
        self.name = name
    }

    /// The type a replacement must have, for error messages.
    var requiredTypeName: String { "Module" }

    /// Puts `module` in the slot; returns false (and changes nothing) when it has the wrong type.
    func assign(_ module: Module) -> Bool {
        self.module = module
        return true
    }
}

/// A slot whose module must be a `Value` (a class or a class-constrained protocol such as
/// `any LinearLayer`); the typed value is kept so reading it costs no dynamic cast.
public final class TypedChildSlot<Value>: ChildSlot {
    private var typed: Value?

    override init(name: String) { super.init(name: name) }

    override var requiredTypeName: String { "\(Value.self)" }

    /// The child, typed.
    public var value: Value {
        guard let typed else { preconditionFailure("child '\(name)' was read before it was registered") }
        return typed
    }

    override func assign(_ module: Module) -> Bool {
        guard let value = module as? Value else { return false }
        typed = value
        self.module = module
        return true
    }
}

/// A typed, named child of a `Module`: `@Child("q_proj") var qProj: any LinearLayer`.
///
/// Declare it with its checkpoint name, give it a module once in `init` with
/// `registerChild(_qProj, Linear(…))`, and read it like a stored property. Replacing the child at
/// its dotted path (for example wrapping it with a LoRA layer) is seen by the property at once, and a
/// replacement of the wrong type is refused with `ModuleError.incompatibleReplacement`.
@propertyWrapper
public struct Child<Value> {
    /// The slot shared with the parent's registry.
    public let slot: TypedChildSlot<Value>

    /// A child that will be registered under `name`.
    public init(_ name: String) { slot = TypedChildSlot(name: name) }

    /// The child module, typed (setting it replaces the registered child).
    @available(*, unavailable, message: "@Child can only be used on properties of Module subclasses")
    public var wrappedValue: Value {
        get { fatalError("unavailable") }
        set { fatalError("unavailable") }  // swiftlint:disable:this unused_setter_value
    }

    /// Reads the child from the shared slot; assigning replaces it (same checks as `replaceModule`).
    public static subscript<Parent: Module>(
        _enclosingInstance parent: Parent,
        wrapped wrappedKeyPath: ReferenceWritableKeyPath<Parent, Value>,
        storage storageKeyPath: ReferenceWritableKeyPath<Parent, Child<Value>>
    ) -> Value {
        get { parent[keyPath: storageKeyPath].slot.value }
        set {
            let slot = parent[keyPath: storageKeyPath].slot
            guard let module = newValue as? Module else { preconditionFailure("@Child '\(slot.name)': \(type(of: newValue)) is not a Module") }
            do { try parent.replaceChild(named: slot.name, with: module) } catch {
                preconditionFailure("\(error)")
            }
        }
    }
}

/// An ordered list of children of one type, named "0", "1", … (Hugging Face's `nn.ModuleList`).
public final class ModuleList<Element>: Module {
    private var slots: [TypedChildSlot<Element>] = []

    /// An empty list.
    override public init() { super.init() }

    /// A list holding `elements` in order.
    public init(_ elements: [Element]) {
        super.init()
        for element in elements { append(element) }
    }

    /// Appends a child named after its index.
    public func append(_ element: Element) {
        guard let module = element as? Module else { preconditionFailure("ModuleList: \(type(of: element)) is not a Module") }
        let slot = TypedChildSlot<Element>(name: "\(slots.count)")
        registerChild(Child(slot: slot), module)
        slots.append(slot)
    }

    /// Number of elements.
    public var count: Int { slots.count }

    /// The element at `index`.
    public subscript(index: Int) -> Element { slots[index].value }
}

extension Child {
    init(slot: TypedChildSlot<Value>) { self.slot = slot }
}
