// Dense symmetric eigen-decomposition and truncated SVD in double precision, for
// low-rank factorization (lowrank.cpp). Householder tridiagonalization then the
// implicit symmetric QR iteration with Wilkinson shifts: O(n^3), so a 512 x 4608
// convolution unfolding decomposes in about a second.
#pragma once

#include <cstdint>
#include <vector>

namespace pare {

// a: n x n symmetric, row-major (only read). Eigenvalues descending in *values;
// eigenvector j is row j of *vectors (n x n, row-major).
void symmetric_eigen(const std::vector<double>& a, int64_t n, std::vector<double>* values,
                     std::vector<double>* vectors);

struct Svd {
    std::vector<double> s;   // all min(m, n) singular values, descending
    int64_t k = 0;           // singular vectors kept
    std::vector<double> u;   // m x k, row-major: column j is left singular vector j
    std::vector<double> vt;  // k x n, row-major: row j is right singular vector j
};

// a: m x n, row-major. The k leading singular triplets (k <= min(m, n)), through the
// eigen-decomposition of the smaller Gram matrix. Directions whose singular value
// is below 1e-12 of the largest get zero vectors (they carry no energy).
Svd truncated_svd(const std::vector<double>& a, int64_t m, int64_t n, int64_t k);

// The smallest rank whose squared singular values reach `energy` (0, 1] of the total.
int64_t rank_for_energy(const std::vector<double>& s, double energy);

}  // namespace pare
