use std::cmp::Ordering;

use super::*;
use serde_json::json;

fn string(min: Option<u64>, max: Option<u64>, pattern: Option<&str>) -> Node {
    Node {
        kind: Kind::String {
            min_length: min,
            max_length: max,
            pattern: pattern.map(str::to_owned),
        },
        ..Node::new(TypeName::String)
    }
}

fn field(name: &str, required: bool, node: Node) -> Field {
    Field {
        name: name.to_owned(),
        required,
        node,
    }
}

fn object(fields: Vec<Field>, additional: bool) -> Node {
    Node::new(TypeName::Object).with_kind(Kind::Object { fields, additional })
}

impl Node {
    fn with_kind(mut self, kind: Kind) -> Node {
        self.kind = kind;
        self
    }
}

/// A model using every type and constraint, nested objects and an array of objects.
fn everything() -> Node {
    let mut described = Node::new(TypeName::Boolean);
    described.description = "Whether to be brief".into();
    described.default = Some(json!(true));
    described
        .annotations
        .insert("title".into(), json!("Brief?"));
    object(
        vec![
            field("question", true, string(Some(1), Some(2000), None)),
            field("code", false, string(None, None, Some("^[A-Z]{3}-[0-9]+$"))),
            field(
                "score",
                false,
                Node::new(TypeName::Number).with_kind(Kind::Number {
                    minimum: Some(Number::from(0)),
                    maximum: Number::from_f64(1.5),
                }),
            ),
            field(
                "count",
                true,
                Node::new(TypeName::Integer).with_kind(Kind::Integer {
                    minimum: Some(Number::from(-3)),
                    maximum: None,
                }),
            ),
            field("brief", false, described),
            field(
                "tone",
                true,
                Node::new(TypeName::Enum).with_kind(Kind::Enum {
                    values: vec!["formal".into(), "casual".into()],
                }),
            ),
            field(
                "customer",
                false,
                object(
                    vec![
                        field("name", true, string(None, Some(80), None)),
                        field(
                            "address",
                            false,
                            object(vec![field("city", true, string(None, None, None))], true),
                        ),
                    ],
                    false,
                ),
            ),
            field(
                "lines",
                false,
                Node::new(TypeName::Array).with_kind(Kind::Array {
                    items: Box::new(object(
                        vec![
                            field("sku", true, string(None, None, None)),
                            field("qty", true, Node::new(TypeName::Integer)),
                        ],
                        false,
                    )),
                    min_items: Some(1),
                    max_items: Some(10),
                }),
            ),
        ],
        false,
    )
}

#[test]
fn every_type_round_trips_through_json_schema() {
    let model = everything();
    assert!(model.problems().is_empty(), "{:?}", model.problems());
    let schema = model.to_schema();
    let back = import(&schema);
    assert_eq!(back.unsupported, Vec::<String>::new());
    assert_eq!(back.node, model);
    // Through text too, field order kept.
    let text = model.to_schema_text();
    let reparsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(import(&reparsed).node, model);
    let names: Vec<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        [
            "question", "code", "score", "count", "brief", "tone", "customer", "lines"
        ]
    );
    assert_eq!(schema["required"], json!(["question", "count", "tone"]));
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(
        schema["properties"]["tone"],
        json!({"type": "string", "enum": ["formal", "casual"]})
    );
    assert_eq!(
        schema["properties"]["brief"],
        json!({"type": "boolean", "description": "Whether to be brief", "default": true, "title": "Brief?"})
    );
    assert_eq!(
        schema["properties"]["lines"]["items"]["required"],
        json!(["sku", "qty"])
    );
}

#[test]
fn hand_written_schemas_report_what_the_model_cannot_show() {
    let schema = json!({
        "type": "object",
        "properties": {
            "a": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "b": {"type": "string", "format": "email"},
            "c": {"type": ["string", "null"]},
            "d": {"type": "string", "pattern": "^\\s+$"},
            "e": {"type": "number", "multipleOf": 2},
            "f": {"type": "string", "title": "kept"}
        },
        "$defs": {"x": {}}
    });
    let imported = import(&schema);
    let u = imported.unsupported.join("\n");
    for expected in [
        "/properties/a: no type",
        "/properties/a: oneOf",
        "/properties/b: format",
        "/properties/c: a list of types",
        "/properties/d: the pattern uses \\s",
        "/properties/e: multipleOf",
        "/: $defs",
    ] {
        assert!(u.contains(expected), "missing {expected:?} in\n{u}");
    }
    assert!(!u.contains("/properties/f"), "{u}");
    // Fields the model can show are still there, in order.
    let Kind::Object { fields, .. } = &imported.node.kind else {
        panic!("expected an object");
    };
    assert_eq!(fields.len(), 6);
    assert_eq!(fields[5].node.annotations["title"], json!("kept"));
    // A $schema other than 2020-12 changes the rules: not representable.
    let old =
        import(&json!({"$schema": "http://json-schema.org/draft-04/schema#", "type": "string"}));
    assert_eq!(old.unsupported.len(), 1);
    assert!(
        import(&json!({"$schema": DIALECT, "type": "string"}))
            .unsupported
            .is_empty()
    );
}

#[test]
fn validator_boundaries() {
    let m = everything();
    let ok = json!({"question": "Why?", "count": -3, "tone": "formal"});
    assert_eq!(m.errors(&ok), vec![]);
    let at = |v: Value| -> Vec<String> { m.errors(&v).into_iter().map(|e| e.field).collect() };
    // Required fields are reported where they belong.
    assert_eq!(at(json!({"count": 0, "tone": "formal"})), ["/question"]);
    // Lengths count characters, not bytes.
    assert_eq!(
        at(json!({"question": "é", "count": 0, "tone": "casual"})),
        Vec::<String>::new()
    );
    assert_eq!(
        at(json!({"question": "", "count": 0, "tone": "casual"})),
        ["/question"]
    );
    // Integer limits are inclusive; 2.0 is an integer, 2.5 is not.
    assert_eq!(
        at(json!({"question": "q", "count": -4, "tone": "casual"})),
        ["/count"]
    );
    assert!(m.is_valid(&json!({"question": "q", "count": 2.0, "tone": "casual"})));
    assert_eq!(
        at(json!({"question": "q", "count": 2.5, "tone": "casual"})),
        ["/count"]
    );
    assert_eq!(
        at(json!({"question": "q", "count": "2", "tone": "casual"})),
        ["/count"]
    );
    // Number maximum 1.5 inclusive.
    let base =
        |score: Value| json!({"question": "q", "count": 0, "tone": "casual", "score": score});
    assert!(m.is_valid(&base(json!(1.5))));
    assert!(!m.is_valid(&base(json!(1.5000001))));
    assert!(m.is_valid(&base(json!(0))));
    assert!(!m.is_valid(&base(json!(-0.0001))));
    // Enum, pattern, nested objects, extra properties, arrays of objects.
    assert_eq!(
        at(json!({"question": "q", "count": 0, "tone": "rude"})),
        ["/tone"]
    );
    let with = |k: &str, v: Value| {
        let mut o = ok.clone();
        o[k] = v;
        o
    };
    assert!(m.is_valid(&with("code", json!("ABC-12"))));
    assert_eq!(at(with("code", json!("abc-12"))), ["/code"]);
    assert_eq!(at(with("extra", json!(1))), ["/"]);
    assert_eq!(at(with("customer", json!({}))), ["/customer/name"]);
    assert!(m.is_valid(&with(
        "customer",
        json!({"name": "Ann", "address": {"city": "Oslo", "zip": "0150"}})
    )));
    assert_eq!(
        at(with("customer", json!({"name": "Ann", "age": 3}))),
        ["/customer"]
    );
    assert_eq!(at(with("lines", json!([]))), ["/lines"]);
    assert_eq!(
        at(with("lines", json!([{"sku": "a", "qty": 1}, {"sku": "b"}]))),
        ["/lines/1/qty"]
    );
    assert_eq!(at(json!([1])), ["/"]);
}

#[test]
fn big_numbers_compare_exactly() {
    let n = |s: &str| serde_json::from_str::<Number>(s).unwrap();
    assert_eq!(
        cmp_numbers(&n("9007199254740993"), &n("9007199254740992.0")),
        Ordering::Greater
    );
    assert_eq!(cmp_numbers(&n("-1"), &n("-0.5")), Ordering::Less);
    assert_eq!(cmp_numbers(&n("3"), &n("3.0")), Ordering::Equal);
    assert_eq!(
        cmp_numbers(&n("18446744073709551615"), &n("-1")),
        Ordering::Greater
    );
    assert_eq!(cmp_numbers(&n("1e300"), &n("5")), Ordering::Greater);
    assert!(is_integer(&n("1.0")) && !is_integer(&n("1.5")));
}

#[test]
fn model_problems_block_saving() {
    let bad = object(
        vec![
            field("a", false, string(Some(5), Some(2), Some("("))),
            field("a", false, Node::new(TypeName::Enum)),
            field(
                "",
                false,
                Node::new(TypeName::Integer).with_kind(Kind::Integer {
                    minimum: Some(Number::from(3)),
                    maximum: Some(Number::from(1)),
                }),
            ),
        ],
        false,
    );
    let p: Vec<String> = bad
        .problems()
        .into_iter()
        .map(|(f, m)| format!("{f}: {m}"))
        .collect();
    let text = p.join("\n");
    for expected in [
        "a: the minimum length is larger",
        "a: the pattern is not a valid regular expression",
        "a: two fields have this name",
        "a: list at least one allowed value",
        "(root): field 3 has no name",
        "the minimum is larger than the maximum",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(check_pattern("^\\d+$").is_ok());
    assert!(check_pattern("\\bword").unwrap_err().contains("\\b"));
    assert!(check_pattern("(?i)abc").is_err());
    assert!(check_pattern("(a)\\1").is_err());
}

#[test]
fn form_helpers() {
    assert_eq!(typed_number(" "), None);
    assert_eq!(typed_number("12"), Some(json!(12)));
    assert_eq!(typed_number("1.5"), Some(json!(1.5)));
    assert_eq!(typed_number("12a"), Some(json!("12a")));
    assert_eq!(parse_limit("x").unwrap_err(), "\"x\" is not a number");
    assert_eq!(
        parse_count("-1").unwrap_err(),
        "\"-1\" is not a whole number of 0 or more"
    );
    assert_eq!(parse_count("4"), Ok(Some(4)));
    let initial = everything().initial_value();
    assert_eq!(initial, json!({"brief": true}));
    let nested = object(
        vec![
            field(
                "o",
                true,
                object(vec![field("x", true, string(None, None, None))], false),
            ),
            field("l", true, Node::new(TypeName::Array)),
            field("n", true, Node::new(TypeName::Integer)),
        ],
        false,
    );
    assert_eq!(nested.initial_value(), json!({"o": {}, "l": []}));
}

#[test]
fn paths_reach_nested_nodes_and_values() {
    let mut m = everything();
    let qty = m
        .at(&[Step::Field(7), Step::Items, Step::Field(1)])
        .unwrap();
    assert_eq!(qty.kind.type_name(), TypeName::Integer);
    assert!(m.at(&[Step::Field(0), Step::Items]).is_none());
    assert!(m.at(&[Step::Field(99)]).is_none());
    let city = m
        .at_mut(&[Step::Field(6), Step::Field(1), Step::Field(0)])
        .unwrap();
    city.set_type(TypeName::Integer);
    assert_eq!(
        city.kind,
        Kind::Integer {
            minimum: None,
            maximum: None
        }
    );
    let mut brief = m.at(&[Step::Field(4)]).unwrap().clone();
    brief.set_type(TypeName::String);
    assert_eq!(brief.default, None, "a boolean default does not fit text");
    assert_eq!(brief.description, "Whether to be brief");
    assert_eq!(m.new_field_name(), "field_1");

    let mut v = json!({});
    let path = [
        Seg::Key("lines".into()),
        Seg::Index(0),
        Seg::Key("a/b".into()),
    ];
    set_path(&mut v, &[Seg::Key("lines".into())], Some(json!([{}])));
    set_path(&mut v, &path, Some(json!(3)));
    assert_eq!(v, json!({"lines": [{"a/b": 3}]}));
    assert_eq!(pointer(&path), "/lines/0/a~1b");
    assert_eq!(get_path(&v, &path), Some(&json!(3)));
    set_path(&mut v, &path, None);
    assert_eq!(v, json!({"lines": [{}]}));
    set_path(&mut v, &[Seg::Key("lines".into()), Seg::Index(0)], None);
    assert_eq!(v, json!({"lines": []}));
    // Out-of-range indexes change nothing.
    set_path(
        &mut v,
        &[Seg::Key("lines".into()), Seg::Index(3)],
        Some(json!(1)),
    );
    assert_eq!(v, json!({"lines": []}));
}

/// Strategies for models the editor can produce and instances near them.
#[cfg(feature = "server")]
pub(crate) mod strategies {
    use proptest::prelude::*;

    use super::*;

    pub const PATTERNS: [&str; 12] = [
        "^[a-z]+$",
        "^[0-9]{2,4}$",
        "a|b",
        "^\\d+$",
        "^\\w*$",
        "x.y",
        "^[A-Z][a-z]*$",
        "colou?r",
        "^$",
        "[^abc]",
        "\\.",
        "^(ab)+c?$",
    ];

    /// Patterns from the vocabulary above, and patterns generated from a small grammar of the
    /// portable subset (atoms, classes, groups, alternation, quantifiers, anchors).
    pub fn pattern() -> BoxedStrategy<String> {
        let atom = prop_oneof![
            "[a-c]",
            Just(r"[a-z]".to_owned()),
            Just(r"[0-9]".to_owned()),
            Just(r"\d".to_owned()),
            Just(r"\w".to_owned()),
            Just(r"\W".to_owned()),
            Just(r".".to_owned()),
            Just(r"[^a]".to_owned()),
            Just("é".to_owned()),
            Just(r"\.".to_owned()),
            Just(r"(a|bc)".to_owned()),
            Just(r"[A-Z]".to_owned()),
        ];
        let quant = prop_oneof![
            Just(""),
            Just(""),
            Just("?"),
            Just("*"),
            Just("+"),
            Just("{2}"),
            Just("{1,3}")
        ];
        let generated = (
            any::<bool>(),
            prop::collection::vec((atom, quant), 1..4),
            any::<bool>(),
        )
            .prop_map(|(start, parts, end)| {
                let body: String = parts.into_iter().map(|(a, q)| format!("{a}{q}")).collect();
                let start = if start { "^" } else { "" };
                let end = if end { "$" } else { "" };
                format!("{start}{body}{end}")
            })
            .prop_filter("portable", |p| check_pattern(p).is_ok());
        prop_oneof![
            prop::sample::select(PATTERNS.to_vec()).prop_map(str::to_owned),
            generated,
        ]
        .boxed()
    }

    fn count() -> impl Strategy<Value = Option<u64>> {
        prop::option::weighted(0.3, 0u64..6)
    }

    fn limit(integer: bool) -> BoxedStrategy<Option<Number>> {
        if integer {
            prop::option::weighted(0.4, (-10i64..10).prop_map(Number::from)).boxed()
        } else {
            prop::option::weighted(
                0.4,
                prop_oneof![
                    (-10i64..10).prop_map(Number::from),
                    (-40i32..40).prop_map(
                        |x| Number::from_f64(f64::from(x) / 4.0).unwrap_or(Number::from(0))
                    ),
                ],
            )
            .boxed()
        }
    }

    fn name() -> impl Strategy<Value = String> {
        prop_oneof!["[a-c]", Just("a/b".to_owned()), Just("t~1".to_owned())]
    }

    /// Any model the editor can produce (without model problems). `patterns_with_lengths`
    /// false keeps patterns and lengths apart (for the mock, which must satisfy both).
    pub fn node(patterns_with_lengths: bool) -> impl Strategy<Value = Node> {
        let leaf = prop_oneof![
            (count(), count(), prop::option::weighted(0.4, pattern())).prop_map(
                move |(min_length, max_length, pattern)| {
                    let (min_length, max_length) = if pattern.is_some() && !patterns_with_lengths {
                        (None, None)
                    } else {
                        (min_length, max_length)
                    };
                    Node::new(TypeName::String).with_kind(Kind::String {
                        min_length,
                        max_length,
                        pattern,
                    })
                }
            ),
            (limit(false), limit(false)).prop_map(|(minimum, maximum)| Node::new(TypeName::Number)
                .with_kind(Kind::Number { minimum, maximum })),
            (limit(true), limit(true)).prop_map(|(minimum, maximum)| Node::new(TypeName::Integer)
                .with_kind(Kind::Integer { minimum, maximum })),
            Just(Node::new(TypeName::Boolean)),
            prop::collection::btree_set("[a-c]{0,2}", 1..4).prop_map(|values| Node::new(
                TypeName::Enum
            )
            .with_kind(Kind::Enum {
                values: values.into_iter().collect()
            })),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                (
                    prop::collection::btree_map(name(), (any::<bool>(), inner.clone()), 0..4),
                    any::<bool>()
                )
                    .prop_map(|(fields, additional)| object(
                        fields
                            .into_iter()
                            .map(|(name, (required, node))| field(&name, required, node))
                            .collect(),
                        additional
                    )),
                (inner, count(), count()).prop_map(|(items, min_items, max_items)| Node::new(
                    TypeName::Array
                )
                .with_kind(Kind::Array {
                    items: Box::new(items),
                    min_items,
                    max_items
                })),
            ]
        })
        .prop_filter("model problems", |n| n.problems().is_empty())
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-20i64..20).prop_map(|n| json!(n)),
            (-80i32..80).prop_map(|n| json!(f64::from(n) / 4.0)),
            "[a-zA-Z0-9 ._é\n-]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map(name(), inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Instances near `node`: mostly shaped like it (so deep constraints are exercised), with
    /// wrong types, missing and extra fields mixed in.
    pub fn instance(node: &Node) -> BoxedStrategy<Value> {
        let near: BoxedStrategy<Value> = match &node.kind {
            Kind::String { .. } => prop_oneof![
                "[a-zA-Z0-9 ._é\n-]{0,7}",
                "(colou?r|ab|abc|[0-9]{1,5}|[A-Z][a-z]{0,3}|x.y|a|b|\\.|)",
                "(a|bc|[a-c]|[0-9]|_|é|\\.|A){0,6}",
            ]
            .prop_map(Value::String)
            .boxed(),
            Kind::Number { .. } | Kind::Integer { .. } => prop_oneof![
                (-12i64..12).prop_map(|n| json!(n)),
                (-48i32..48).prop_map(|n| json!(f64::from(n) / 4.0)),
                (-12i32..12).prop_map(|n| json!(f64::from(n))),
            ]
            .boxed(),
            Kind::Boolean => any::<bool>().prop_map(Value::Bool).boxed(),
            Kind::Enum { values } => {
                prop_oneof![prop::sample::select(values.clone()), "[a-c]{0,2}"]
                    .prop_map(Value::String)
                    .boxed()
            }
            Kind::Object { fields, .. } => {
                let parts: Vec<BoxedStrategy<Option<(String, Value)>>> = fields
                    .iter()
                    .map(|f| {
                        let name = f.name.clone();
                        prop::option::weighted(0.85, instance(&f.node))
                            .prop_map(move |v| v.map(|v| (name.clone(), v)))
                            .boxed()
                    })
                    .collect();
                (parts, prop::option::weighted(0.15, (name(), any_json())))
                    .prop_map(|(parts, extra)| {
                        let mut m: Map<String, Value> = parts.into_iter().flatten().collect();
                        if let Some((k, v)) = extra {
                            m.entry(k).or_insert(v);
                        }
                        Value::Object(m)
                    })
                    .boxed()
            }
            Kind::Array { items, .. } => prop::collection::vec(instance(items), 0..7)
                .prop_map(Value::Array)
                .boxed(),
        };
        prop_oneof![9 => near, 1 => any_json()].boxed()
    }
}

#[cfg(feature = "server")]
mod agreement {
    use proptest::prelude::*;

    use super::strategies::{instance, node};
    use super::*;
    use crate::contract::compile;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

        /// The browser's verdict equals the server's for every schema the editor can produce.
        #[test]
        fn contract_agreement((model, values) in node(true).prop_flat_map(|n| {
            let v = prop::collection::vec(instance(&n), 8);
            (Just(n), v)
        })) {
            let schema = model.to_schema();
            let server = compile(&schema).unwrap();
            for v in &values {
                let browser = model.errors(v);
                prop_assert_eq!(
                    browser.is_empty(),
                    server.is_valid(v),
                    "schema {}\ninstance {}\nbrowser {:?}\nserver {:?}",
                    schema, v, browser, server.errors(v)
                );
            }
            // And the model survives the trip through JSON Schema.
            let back = import(&schema);
            prop_assert!(back.unsupported.is_empty(), "{:?}", back.unsupported);
            prop_assert_eq!(back.node, model);
        }
    }
}

/// A case the agreement property found: `.` and a carriage return (ECMA-262: no match).
#[test]
fn browser_and_server_read_dot_alike() {
    let model = object(
        vec![field("a", false, string(None, None, Some("x.y")))],
        false,
    );
    let server = crate::contract::compile(&model.to_schema()).unwrap();
    for (text, valid) in [
        ("x-y", true),
        ("x\ry", false),
        ("x\ny", false),
        ("x\u{2028}y", false),
    ] {
        let v = json!({ "a": text });
        assert_eq!(model.is_valid(&v), valid, "browser {text:?}");
        assert_eq!(server.is_valid(&v), valid, "server {text:?}");
    }
}

/// Schemas are pasted by users: any JSON, shaped from JSON Schema's own keywords, imports
/// without a panic into a model that survives export and import; one imported without notes
/// exports to a schema the server compiles.
#[cfg(feature = "server")]
mod untrusted_import {
    use proptest::prelude::*;

    use super::*;
    use crate::contract::compile;

    fn schema_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            Just(json!(1e308)),
            Just(json!(-0.0)),
            prop::sample::select(vec![
                "string",
                "integer",
                "number",
                "boolean",
                "object",
                "array",
                "null",
                "^a+$",
                "(a|",
                "date-time",
                "#/definitions/x",
                "http://example.com/s.json",
                "",
            ])
            .prop_map(Value::from),
        ];
        let keys = prop::sample::select(vec![
            "type",
            "properties",
            "items",
            "required",
            "enum",
            "const",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "minLength",
            "maxLength",
            "pattern",
            "format",
            "minItems",
            "maxItems",
            "additionalProperties",
            "$ref",
            "anyOf",
            "oneOf",
            "allOf",
            "not",
            "description",
            "default",
            "$schema",
            "title",
            "a",
            "b",
        ]);
        leaf.prop_recursive(6, 96, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..7).prop_map(|kv| {
                    Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

        #[test]
        fn any_pasted_schema_imports_and_what_is_kept_round_trips(schema in schema_json()) {
            let imported = import(&schema);
            let exported = imported.node.to_schema();
            let again = import(&exported);
            prop_assert_eq!(&again.node, &imported.node);
            // A schema imported without notes exports to one the server compiles. (One with
            // notes may keep what the person must fix in the editor — an invalid pattern — and
            // saving refuses it with a field error.)
            if imported.unsupported.is_empty() {
                prop_assert!(compile(&exported).is_ok(), "{} from {}", exported, schema);
                prop_assert!(again.unsupported.is_empty(), "{:?} from {}", again.unsupported, exported);
            }
        }
    }
}
