//! Our kernels against candle's `QMatMul` on random matrices of every block
//! format we read, for batches of 1 to 19 rows (more than two row tiles).

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};

use super::Linear;

/// Deterministic pseudo-random values in `[-scale, scale)`, with a few
/// larger outliers (as real activations have).
fn random(len: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let x = ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale;
            if i % 97 == 5 { x * 20.0 } else { x }
        })
        .collect()
}

#[test]
fn own_kernels_equal_candles_on_random_blocks() {
    let formats = [GgmlDType::Q4_1, GgmlDType::Q5_0];
    for (f, dtype) in formats.into_iter().enumerate() {
        for &(n, k) in &[(40, 512), (70, 768)] {
            let weights = Tensor::from_vec(random(n * k, 11 + f as u64, 0.3), (n, k), &Device::Cpu).unwrap();
            let tensor = Arc::new(QTensor::quantize(&weights, dtype).unwrap());
            let ours = Linear::new(tensor.clone(), true).unwrap();
            assert!(ours.is_own(), "{dtype:?}");
            let candle = QMatMul::from_arc(tensor).unwrap();
            for m in [1, 3, 19] {
                let mut values = random(m * k, 100 + m as u64, 1.0);
                values[..k.min(64)].fill(0.0); // an all-zero activation block
                let x = Tensor::from_vec(values, (m, k), &Device::Cpu).unwrap();
                let got = ours.forward(&x).unwrap().to_vec2::<f32>().unwrap();
                let want = candle.forward(&x).unwrap().to_vec2::<f32>().unwrap();
                for (r, (got, want)) in got.iter().zip(&want).enumerate() {
                    for (j, (g, w)) in got.iter().zip(want).enumerate() {
                        assert_eq!(g.to_bits(), w.to_bits(), "{dtype:?} {n}x{k} m={m} [{r}][{j}]: {g} vs {w}");
                    }
                }
            }
        }
    }
}

#[test]
fn a_row_does_not_depend_on_the_rest_of_the_batch() {
    let (n, k) = (33, 256);
    let weights = Tensor::from_vec(random(n * k, 7, 0.5), (n, k), &Device::Cpu).unwrap();
    let ours = Linear::new(Arc::new(QTensor::quantize(&weights, GgmlDType::Q5_0).unwrap()), true).unwrap();
    let values = random(20 * k, 8, 1.0);
    let batch = Tensor::from_vec(values.clone(), (20, k), &Device::Cpu).unwrap();
    let together = ours.forward(&batch).unwrap().to_vec2::<f32>().unwrap();
    for (r, row) in together.iter().enumerate() {
        let alone = Tensor::from_vec(values[r * k..(r + 1) * k].to_vec(), (1, k), &Device::Cpu).unwrap();
        assert_eq!(&ours.forward(&alone).unwrap().to_vec2::<f32>().unwrap()[0], row, "row {r}");
    }
}

#[test]
fn other_formats_and_the_switch_fall_back_to_candle() {
    let weights = Tensor::from_vec(random(4 * 64, 3, 0.5), (4, 64), &Device::Cpu).unwrap();
    for dtype in [GgmlDType::Q4_0, GgmlDType::Q8_0, GgmlDType::Q4K] {
        let weights = Tensor::from_vec(random(4 * 256, 3, 0.5), (4, 256), &Device::Cpu).unwrap();
        let tensor = Arc::new(QTensor::quantize(&weights, dtype).unwrap());
        assert!(!Linear::new(tensor, true).unwrap().is_own(), "{dtype:?}: candle's SIMD kernel");
    }
    let q4_1 = Arc::new(QTensor::quantize(&weights, GgmlDType::Q4_1).unwrap());
    assert!(Linear::new(q4_1.clone(), true).unwrap().is_own());
    assert!(!Linear::new(q4_1, false).unwrap().is_own(), "own kernels off");
}

/// Times our kernel and candle's on the matrix shapes of SmolLM2 and
/// Qwen2.5-0.5B for 1 and 8 rows (release build, `-C target-cpu=native`):
/// `cargo test --release -p kestrel-local --features chat --lib -- --ignored kernel_timings --nocapture`.
#[test]
#[ignore = "a timing, not a check: run in release"]
fn kernel_timings() {
    let shapes = [
        ("smollm2 ffn_up", GgmlDType::Q4_1, 1536, 576),
        ("qwen ffn_up", GgmlDType::Q5_0, 4864, 896),
        ("qwen attn_q", GgmlDType::Q5_0, 896, 896),
    ];
    for (name, dtype, n, k) in shapes {
        let weights = Tensor::from_vec(random(n * k, 5, 0.3), (n, k), &Device::Cpu).unwrap();
        let tensor = Arc::new(QTensor::quantize(&weights, dtype).unwrap());
        let ours = Linear::new(tensor.clone(), true).unwrap();
        let candle = QMatMul::from_arc(tensor).unwrap();
        for m in [1, 8] {
            let x = Tensor::from_vec(random(m * k, 9, 1.0), (m, k), &Device::Cpu).unwrap();
            let time = |f: &dyn Fn() -> Tensor| {
                f();
                let start = std::time::Instant::now();
                let reps = 20;
                for _ in 0..reps {
                    f();
                }
                start.elapsed().as_secs_f64() / reps as f64
            };
            let own = time(&|| ours.forward(&x).unwrap());
            let theirs = time(&|| candle.forward(&x).unwrap());
            let macs = (n * k * m) as f64;
            println!(
                "{name} {dtype:?} {n}x{k} m={m}: own {:.2} ms ({:.2} GMAC/s), candle {:.2} ms ({:.2} GMAC/s), {:.1}x",
                own * 1e3,
                macs / own / 1e9,
                theirs * 1e3,
                macs / theirs / 1e9,
                theirs / own
            );
        }
    }
}
