//! Evaluation metrics as the official code reports them (`src/utilities/stats.py`): per-class
//! average precision exactly as `sklearn.metrics.average_precision_score`, ROC-AUC with ties
//! counted half, d-prime from the AUC, top-k accuracy against the argmax target, and the
//! confusion matrix.

use serde::{Deserialize, Serialize};

/// Average precision of one class: `sum_n (R_n - R_{n-1}) P_n` over the distinct score
/// thresholds in decreasing order (sklearn's definition; tied scores form one threshold).
/// `None` when the class has no positive example (sklearn warns and the value is undefined).
pub fn average_precision(truth: &[bool], scores: &[f32]) -> Option<f64> {
    let positives = truth.iter().filter(|&&t| t).count();
    if positives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp, mut ap, mut last_recall) = (0usize, 0usize, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            if truth[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let recall = tp as f64 / positives as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - last_recall) * precision;
        last_recall = recall;
    }
    Some(ap)
}

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative, ties counting one half (sklearn's trapezoidal AUC). `None` without both classes.
pub fn roc_auc(truth: &[bool], scores: &[f32]) -> Option<f64> {
    let p = truth.iter().filter(|&&t| t).count();
    let n = truth.len() - p;
    if p == 0 || n == 0 {
        return None;
    }
    // Mann-Whitney U from average ranks.
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0; // ranks i+1 ..= j
        rank_sum += avg_rank * order[i..j].iter().filter(|&&k| truth[k]).count() as f64;
        i = j;
    }
    Some((rank_sum - (p * (p + 1)) as f64 / 2.0) / (p * n) as f64)
}

/// d' = √2 Φ⁻¹(AUC), the official code's `d_prime`.
pub fn d_prime(auc: f64) -> f64 {
    std::f64::consts::SQRT_2 * normal_ppf(auc)
}

/// The standard normal quantile (Acklam's rational approximation, relative error below
/// 1.2e-9: far below what d' is reported to).
pub fn normal_ppf(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

fn argmax(v: &[f32]) -> usize {
    // First maximum, as numpy's argmax.
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Fraction of rows whose argmax target is among the `k` highest outputs.
pub fn top_k_accuracy(outputs: &[Vec<f32>], targets: &[Vec<f32>], k: usize) -> f64 {
    if outputs.is_empty() {
        return 0.0;
    }
    let hits = outputs
        .iter()
        .zip(targets)
        .filter(|(o, t)| {
            let truth = argmax(t);
            // Rank = number of outputs strictly above the true class's, plus earlier ties
            // (a stable descending sort puts lower indices first).
            let v = o[truth];
            let rank = o
                .iter()
                .enumerate()
                .filter(|&(i, &x)| x > v || (x == v && i < truth))
                .count();
            rank < k
        })
        .count();
    hits as f64 / outputs.len() as f64
}

/// `m[true][predicted]` counts, from argmax of targets and outputs.
pub fn confusion_matrix(
    outputs: &[Vec<f32>],
    targets: &[Vec<f32>],
    classes: usize,
) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0; classes]; classes];
    for (o, t) in outputs.iter().zip(targets) {
        let (a, p) = (argmax(t), argmax(o));
        if a < classes && p < classes {
            m[a][p] += 1;
        }
    }
    m
}

/// The metrics of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Top-1 accuracy (argmax output = argmax target).
    pub accuracy: f64,
    /// Top-5 accuracy (argmax target among the 5 highest outputs).
    pub top5: f64,
    /// Mean average precision over the classes that have positives.
    pub map: f64,
    /// Mean ROC-AUC over the classes that have both positives and negatives.
    pub auc: f64,
    /// d' of the mean AUC.
    pub dprime: f64,
    /// Mean loss of the recipe's criterion.
    pub loss: f64,
    /// Number of clips evaluated.
    pub clips: usize,
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

impl Metrics {
    /// Metrics of sigmoid `scores` (any monotonic per-class score works for AP and AUC) against
    /// `targets`; `loss` is passed through.
    pub fn compute(scores: &[Vec<f32>], targets: &[Vec<f32>], loss: f64) -> Self {
        let classes = targets.first().map_or(0, Vec::len);
        let column = |c: usize| -> (Vec<bool>, Vec<f32>) {
            (
                targets.iter().map(|t| t[c] > 0.5).collect(),
                scores.iter().map(|s| s[c]).collect(),
            )
        };
        let (aps, aucs): (Vec<_>, Vec<_>) = (0..classes)
            .map(|c| {
                let (t, s) = column(c);
                (average_precision(&t, &s), roc_auc(&t, &s))
            })
            .unzip();
        let auc = mean(aucs.into_iter().flatten());
        Self {
            accuracy: top_k_accuracy(scores, targets, 1),
            top5: top_k_accuracy(scores, targets, 5),
            map: mean(aps.into_iter().flatten()),
            auc,
            dprime: d_prime(auc),
            loss,
            clips: scores.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-8, "{a} vs {b}");
    }

    #[test]
    fn average_precision_by_hand() {
        // Ranked: 0.9 (+), 0.8 (-), 0.7 (+), 0.1 (-): P@1 = 1 (R .5), P@3 = 2/3 (R 1).
        let t = [true, false, true, false];
        close(
            average_precision(&t, &[0.9, 0.8, 0.7, 0.1]).unwrap(),
            0.5 + 0.5 * 2.0 / 3.0,
        );
        // A tie between a positive and a negative is one threshold: P = 1/2 at R = 1/2.
        let t = [true, false, true];
        close(
            average_precision(&t, &[0.5, 0.5, 0.2]).unwrap(),
            0.5 * 0.5 + 0.5 * 2.0 / 3.0,
        );
        close(average_precision(&[true, false], &[0.9, 0.1]).unwrap(), 1.0);
        assert_eq!(average_precision(&[false, false], &[0.3, 0.1]), None);
    }

    #[test]
    fn auc_and_dprime_by_hand() {
        // Pairs (+, -): (.9,.8) yes, (.9,.1) yes, (.7,.8) no, (.7,.1) yes -> 3/4.
        let t = [true, false, true, false];
        let auc = roc_auc(&t, &[0.9, 0.8, 0.7, 0.1]).unwrap();
        close(auc, 0.75);
        // Φ⁻¹(0.75) = 0.6744897501960817
        close(
            d_prime(auc),
            std::f64::consts::SQRT_2 * 0.674_489_750_196_081_7,
        );
        // Tie counts half: (.5 vs .5) 1/2, (.2 vs .5) 0 -> 1/4.
        close(
            roc_auc(&[true, false, true], &[0.5, 0.5, 0.2]).unwrap(),
            0.25,
        );
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.2]), None);
        close(d_prime(0.5), 0.0);
        close(normal_ppf(0.975), 1.959_963_984_540_054);
        close(normal_ppf(0.001), -3.090_232_306_167_813_5);
    }

    #[test]
    fn accuracy_topk_confusion_by_hand() {
        let out = vec![
            vec![0.1, 0.7, 0.2], // pred 1, true 1
            vec![0.5, 0.3, 0.2], // pred 0, true 2 (true class ranked 3rd)
            vec![0.2, 0.2, 0.6], // pred 2, true 0 (rank 2: tie with class 1, lower index first)
        ];
        let tgt = vec![vec![0., 1., 0.], vec![0., 0., 1.], vec![1., 0., 0.]];
        close(top_k_accuracy(&out, &tgt, 1), 1.0 / 3.0);
        close(top_k_accuracy(&out, &tgt, 2), 2.0 / 3.0);
        close(top_k_accuracy(&out, &tgt, 3), 1.0);
        assert_eq!(
            confusion_matrix(&out, &tgt, 3),
            vec![vec![0, 0, 1], vec![0, 1, 0], vec![1, 0, 0]]
        );
        let m = Metrics::compute(&out, &tgt, 0.0);
        close(m.accuracy, 1.0 / 3.0);
        // class 0: scores (.1,.5,.2), positive is the 3rd -> ranked 2nd: AP = 1/2, AUC = 1/2.
        // class 1: positive first: AP 1, AUC 1. class 2: (.2,.2,.6) positive .2 tied with a
        // negative, below .6: AP = (1)(1/3); AUC = (0 + 1/2) / 2 = 1/4.
        close(m.map, (0.5 + 1.0 + 1.0 / 3.0) / 3.0);
        close(m.auc, (0.5 + 1.0 + 0.25) / 3.0);
    }
}
