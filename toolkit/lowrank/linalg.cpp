#include "toolkit/lowrank/linalg.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace pare {

namespace {

// Four independent sums, so the compiler can vectorize without reassociating one.
double dot(const double* x, const double* y, int64_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t t = 0;
    for (; t + 4 <= n; t += 4) {
        s0 += x[t] * y[t];
        s1 += x[t + 1] * y[t + 1];
        s2 += x[t + 2] * y[t + 2];
        s3 += x[t + 3] * y[t + 3];
    }
    for (; t < n; ++t) s0 += x[t] * y[t];
    return (s0 + s1) + (s2 + s3);
}

}  // namespace

void symmetric_eigen(const std::vector<double>& a_in, int64_t n, std::vector<double>* values,
                     std::vector<double>* vectors) {
    std::vector<double> a = a_in;
    // zt = Q^T, so that A = Q T Q^T and the updates touch contiguous rows.
    std::vector<double> zt(static_cast<size_t>(n * n), 0.0);
    for (int64_t i = 0; i < n; ++i) zt[i * n + i] = 1;
    // Householder: column k below the subdiagonal reflected onto its first entry.
    std::vector<double> v(n), p(n), w(n);
    for (int64_t k = 0; k + 2 < n; ++k) {
        const int64_t m = n - k - 1;  // rows k+1 .. n-1
        double norm = 0;
        for (int64_t i = 0; i < m; ++i) norm += a[(k + 1 + i) * n + k] * a[(k + 1 + i) * n + k];
        norm = std::sqrt(norm);
        if (norm == 0) continue;
        const double x0 = a[(k + 1) * n + k];
        const double alpha = x0 > 0 ? -norm : norm;
        for (int64_t i = 0; i < m; ++i) v[i] = a[(k + 1 + i) * n + k];
        v[0] -= alpha;
        double vn = 0;
        for (int64_t i = 0; i < m; ++i) vn += v[i] * v[i];
        vn = std::sqrt(vn);
        if (vn == 0) continue;
        for (int64_t i = 0; i < m; ++i) v[i] /= vn;
        // H A H on the trailing block: A - 2 v w^T - 2 w v^T, w = A v - (v^T A v) v.
        double kk = 0;
        for (int64_t i = 0; i < m; ++i) {
            const double* row = &a[(k + 1 + i) * n + k + 1];
            double s = 0;
            for (int64_t j = 0; j < m; ++j) s += row[j] * v[j];
            p[i] = s;
            kk += v[i] * s;
        }
        for (int64_t i = 0; i < m; ++i) w[i] = p[i] - kk * v[i];
        for (int64_t i = 0; i < m; ++i) {
            double* row = &a[(k + 1 + i) * n + k + 1];
            for (int64_t j = 0; j < m; ++j) row[j] -= 2 * (v[i] * w[j] + w[i] * v[j]);
        }
        a[(k + 1) * n + k] = a[k * n + k + 1] = alpha;
        for (int64_t i = 1; i < m; ++i) a[(k + 1 + i) * n + k] = a[k * n + k + 1 + i] = 0;
        // Q <- Q H, i.e. zt <- H zt on rows k+1 .. n-1.
        std::fill(p.begin(), p.begin() + n, 0.0);
        for (int64_t i = 0; i < m; ++i) {
            const double* row = &zt[(k + 1 + i) * n];
            for (int64_t j = 0; j < n; ++j) p[j] += v[i] * row[j];
        }
        for (int64_t i = 0; i < m; ++i) {
            double* row = &zt[(k + 1 + i) * n];
            for (int64_t j = 0; j < n; ++j) row[j] -= 2 * v[i] * p[j];
        }
    }
    std::vector<double> d(n), e(std::max<int64_t>(n - 1, 0));
    for (int64_t i = 0; i < n; ++i) d[i] = a[i * n + i];
    for (int64_t i = 0; i + 1 < n; ++i) e[i] = a[(i + 1) * n + i];
    // Implicit symmetric QR with Wilkinson shifts (Golub & Van Loan, 8.3).
    const double eps = 1e-15;
    int64_t hi = n - 1, guard = 0;
    while (hi > 0 && guard < 60 * n) {
        for (int64_t i = 0; i < hi; ++i)
            if (std::fabs(e[i]) <= eps * (std::fabs(d[i]) + std::fabs(d[i + 1]))) e[i] = 0;
        if (e[hi - 1] == 0) {
            --hi;
            continue;
        }
        int64_t lo = hi - 1;
        while (lo > 0 && e[lo - 1] != 0) --lo;
        ++guard;
        const double delta = (d[hi - 1] - d[hi]) / 2;
        const double eb = e[hi - 1];
        const double mu = d[hi] - eb * eb / (delta + (delta >= 0 ? 1 : -1) * std::hypot(delta, eb));
        double x = d[lo] - mu, z = e[lo];
        for (int64_t k = lo; k < hi; ++k) {
            const double r = std::hypot(x, z);
            const double c = r == 0 ? 1 : x / r, s = r == 0 ? 0 : z / r;
            if (k > lo) e[k - 1] = r;
            const double dk = d[k], dk1 = d[k + 1], ek = e[k];
            d[k] = c * c * dk + 2 * c * s * ek + s * s * dk1;
            d[k + 1] = s * s * dk - 2 * c * s * ek + c * c * dk1;
            e[k] = c * s * (dk1 - dk) + (c * c - s * s) * ek;
            if (k + 1 < hi) {
                x = e[k];
                z = s * e[k + 1];
                e[k + 1] *= c;
            }
            double* rk = &zt[k * n];
            double* rk1 = &zt[(k + 1) * n];
            for (int64_t j = 0; j < n; ++j) {
                const double q0 = rk[j], q1 = rk1[j];
                rk[j] = c * q0 + s * q1;
                rk1[j] = -s * q0 + c * q1;
            }
        }
    }
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return d[i] > d[j]; });
    values->resize(n);
    vectors->resize(static_cast<size_t>(n * n));
    for (int64_t r = 0; r < n; ++r) {
        (*values)[r] = d[order[r]];
        std::copy_n(&zt[order[r] * n], n, &(*vectors)[r * n]);
    }
}

Svd truncated_svd(const std::vector<double>& a, int64_t m, int64_t n, int64_t k) {
    const bool rows = m <= n;  // Gram of the rows (m x m) or of the columns (n x n)
    const int64_t g = rows ? m : n;
    std::vector<double> gram(static_cast<size_t>(g * g), 0.0);
    if (rows) {
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = i; j < m; ++j)
                gram[i * m + j] = gram[j * m + i] = dot(&a[i * n], &a[j * n], n);
    } else {
        for (int64_t t = 0; t < m; ++t) {
            const double* r = &a[t * n];
            for (int64_t i = 0; i < n; ++i) {
                const double ri = r[i];
                if (ri == 0) continue;
                double* gi = &gram[i * n];
                for (int64_t j = i; j < n; ++j) gi[j] += ri * r[j];
            }
        }
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < i; ++j) gram[i * n + j] = gram[j * n + i];
    }
    std::vector<double> lambda, vec;
    symmetric_eigen(gram, g, &lambda, &vec);
    Svd out;
    out.s.resize(g);
    for (int64_t i = 0; i < g; ++i) out.s[i] = std::sqrt(std::max(0.0, lambda[i]));
    k = std::clamp<int64_t>(k, 0, g);
    out.k = k;
    out.u.assign(static_cast<size_t>(m * k), 0.0);
    out.vt.assign(static_cast<size_t>(k * n), 0.0);
    const double floor = (g > 0 ? out.s[0] : 0) * 1e-12;
    for (int64_t j = 0; j < k; ++j) {
        const double sj = out.s[j];
        const double* e = &vec[j * g];
        if (rows) {
            for (int64_t i = 0; i < m; ++i) out.u[i * k + j] = e[i];
            if (sj <= floor) continue;
            double* v = &out.vt[j * n];
            for (int64_t i = 0; i < m; ++i) {
                const double* r = &a[i * n];
                const double f = e[i] / sj;
                for (int64_t t = 0; t < n; ++t) v[t] += f * r[t];
            }
        } else {
            std::copy_n(e, n, &out.vt[j * n]);
            if (sj <= floor) continue;
            for (int64_t i = 0; i < m; ++i) out.u[i * k + j] = dot(&a[i * n], e, n) / sj;
        }
    }
    return out;
}

int64_t rank_for_energy(const std::vector<double>& s, double energy) {
    double total = 0;
    for (double x : s) total += x * x;
    if (total <= 0) return 1;
    double acc = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        acc += s[i] * s[i];
        if (acc >= energy * total * (1 - 1e-12)) return static_cast<int64_t>(i + 1);
    }
    return static_cast<int64_t>(s.size());
}

}  // namespace pare
