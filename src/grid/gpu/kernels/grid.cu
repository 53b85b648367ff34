// Gridding kernels of rimager's CUDA backend, compiled at run time by NVRTC.
//
// The host prepends #defines that specialise this file (run-time specialisation):
//   REAL      float or double (grid, kernel and record precision)
//   W         kernel support width, cells
//   DEG       degree of the piecewise polynomial of the kernel
//   COEFS     (DEG + 1) x W polynomial coefficients, highest degree first (Horner order)
//   TILE      tile side, cells (power of two)
//   NU, NV    grid size along u (fast axis) and v
//   NTU       tiles along u (NU / TILE)
//   NTILES    tiles in all; a record key of NTILES marks a sample that is not gridded
//   NX, NY    image size
//   MAXSUB    most records one thread block spreads (a "subproblem", cuFINUFFT's term)
//   MIN_WEIGHT, MAX_WEIGHT  the usable weights (src/vis/samples.rs)
//
// Method: Romein (2012), "An efficient work-distribution strategy for gridding radio-telescope
// data on GPUs"; Merry (2016); Shih et al. (2021), cuFINUFFT's shared-memory ("SM") method.
// Records are bucketed by grid tile with a counting sort (histogram with atomics, exclusive
// scan, scatter); each thread block accumulates one tile's records into a shared-memory
// buffer of (TILE + W - 1)^2 cells, then adds that buffer to the global grid once.
// Two spreading kernels: spread_warp (default; W lanes per record) and spread_thread (one
// thread per record), chosen at run time by RIMAGER_GPU_SPREAD for comparison.

typedef REAL real;

#define BW (TILE + W - 1)

// Kernel polynomial coefficients [DEG + 1][W], highest degree first.
__constant__ real coef[(DEG + 1) * W] = {COEFS};

// One record's fractional offsets in [0, 1) and weighted value.
struct __align__(4 * sizeof(real)) rec4 {
    real su, sv, re, im;
};

// count[key[i]] += 1.
extern "C" __global__ void histogram(const unsigned* __restrict__ key, unsigned n,
                                     unsigned* __restrict__ count) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n && key[i] < NTILES) atomicAdd(&count[key[i]], 1u);
}

// out[i] = sum of in[0..i) for i in [0, n]; one block of 1024 threads. Rounds of 4096
// elements: each thread sums 4 consecutive ones (a warp reads 512 contiguous bytes), warps scan
// with shuffles, warp 0 scans the 32 warp totals, and a carry runs across rounds.
extern "C" __global__ void scan_exclusive(const unsigned* __restrict__ in, unsigned n,
                                          unsigned* __restrict__ out) {
    __shared__ unsigned ws[32];
    __shared__ unsigned total_s;
    unsigned t = threadIdx.x, lane = t & 31u, warp = t >> 5;
    unsigned carry = 0;  // the same in every thread
    for (unsigned base = 0; base < n; base += 4096u) {
        unsigned i0 = base + 4u * t;
        unsigned v[4];
        unsigned x = 0;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            v[k] = i0 + k < n ? in[i0 + k] : 0u;
            x += v[k];
        }
        unsigned incl = x;
#pragma unroll
        for (unsigned off = 1; off < 32; off <<= 1) {
            unsigned y = __shfl_up_sync(0xffffffffu, incl, off);
            if (lane >= off) incl += y;
        }
        if (lane == 31) ws[warp] = incl;
        __syncthreads();
        if (warp == 0) {
            unsigned w = ws[lane];
            unsigned wi = w;
#pragma unroll
            for (unsigned off = 1; off < 32; off <<= 1) {
                unsigned y = __shfl_up_sync(0xffffffffu, wi, off);
                if (lane >= off) wi += y;
            }
            ws[lane] = wi - w;
            if (lane == 31) total_s = wi;
        }
        __syncthreads();
        unsigned run = carry + ws[warp] + incl - x;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            if (i0 + k < n) out[i0 + k] = run;
            run += v[k];
        }
        carry += total_s;
        __syncthreads();  // ws and total_s are rewritten by the next round
    }
    if (t == 0) out[n] = carry;
}

// Where the place_samples kernel puts a sample (its arguments beyond the arrays).
struct PlaceArgs {
    double cell;       // pixel size, radians
    double ku, kv;     // cell * NU, -cell * NV
    double cu, cv;     // NU / 2 - W / 2, NV / 2 - W / 2
    unsigned nrow;     // rows of this piece
    unsigned nchan;    // channels per row
    unsigned base;     // index of the piece's first sample in the record batch
    int has_flag;      // whether flag[] is present
    int psf;           // 1: the value is w (PSF), 0: w * V (dirty image)
};

// ceil(x) for finite |x| < 2^63 as the host computes it (truncation, then +1 below x).
__device__ __forceinline__ long long ceil_ll(double x) {
    long long t = (long long)x;
    return t + ((double)t < x ? 1 : 0);
}

// Builds the records of one piece of raw samples on the device, with the host's selection
// rule and arithmetic (src/vis/samples.rs, src/grid/place.rs), every product and sum rounded
// on its own (__dmul_rn, __dadd_rn: no fused multiply-add, as on the host) so the records are
// bitwise those of the host path. Sample i = row * nchan + chan at (u, v) = uvw_m * scale[chan]
// is flagged, invalid (non-finite value, u, v or w; weight outside [MIN_WEIGHT, MAX_WEIGHT]), outside the grid
// (|u cell| or |v cell| >= 1/2) or used. A used sample's record (tile key, du | dv << 16,
// [su, sv, re, im]) goes to index base + i and its tile is counted in count[]; any other gets
// key NTILES. The block's tallies (used, flagged, invalid, outside) and sum of used weights
// (float64) are reduced on the chip and added to tallies[0..4] and sumw once per block.
extern "C" __global__ void place_samples(const double* __restrict__ uvw,
                                         const float2* __restrict__ vis,
                                         const float* __restrict__ wt,
                                         const unsigned char* __restrict__ flag,
                                         const double* __restrict__ scale, PlaceArgs a,
                                         unsigned* __restrict__ key, unsigned* __restrict__ duv,
                                         rec4* __restrict__ vals, unsigned* __restrict__ count,
                                         unsigned long long* __restrict__ tallies,
                                         double* __restrict__ sumw) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned n = a.nrow * a.nchan;
    unsigned c_used = 0, c_flag = 0, c_inv = 0, c_out = 0;
    double wsum = 0.0;
    if (i < n) {
        unsigned row = i / a.nchan, ch = i - row * a.nchan;
        double s = scale[ch];
        double u = __dmul_rn(uvw[3ull * row], s), v = __dmul_rn(uvw[3ull * row + 1], s);
        unsigned k = NTILES;
        if (a.has_flag && flag[i]) {
            c_flag = 1;
        } else {
            float2 z = vis[i];
            float w = wt[i];
            double wl = __dmul_rn(uvw[3ull * row + 2], s);
            if (!(isfinite(z.x) && isfinite(z.y) && w >= MIN_WEIGHT && w <= MAX_WEIGHT &&
                  isfinite(u) && isfinite(v) && isfinite(wl))) {
                c_inv = 1;
            } else if (fabs(__dmul_rn(u, a.cell)) >= 0.5 || fabs(__dmul_rn(v, a.cell)) >= 0.5) {
                c_out = 1;
            } else {
                c_used = 1;
                double wd = (double)w;
                wsum = wd;
                double re = a.psf ? wd : __dmul_rn((double)z.x, wd);
                double im = a.psf ? 0.0 : __dmul_rn((double)z.y, wd);
                double x = __dadd_rn(__dmul_rn(u, a.ku), a.cu);
                double y = __dadd_rn(__dmul_rn(v, a.kv), a.cv);
                long long iu0 = ceil_ll(x), iv0 = ceil_ll(y);
                long long iu = iu0 < 0 ? iu0 + NU : (iu0 >= NU ? iu0 - NU : iu0);
                long long iv = iv0 < 0 ? iv0 + NV : (iv0 >= NV ? iv0 - NV : iv0);
                unsigned tu = (unsigned)iu / TILE, tv = (unsigned)iv / TILE;
                k = tv * NTU + tu;
                duv[a.base + i] = ((unsigned)iu & (TILE - 1)) | (((unsigned)iv & (TILE - 1)) << 16);
                rec4 r;
                r.su = (real)__dsub_rn((double)iu0, x);
                r.sv = (real)__dsub_rn((double)iv0, y);
                r.re = (real)re;
                r.im = (real)im;
                vals[a.base + i] = r;
                atomicAdd(&count[k], 1u);
            }
        }
        key[a.base + i] = k;
    }
    // Block reduction of the tallies (every thread takes part, also past n): warp shuffles,
    // then warp 0 sums the warps' partial sums from shared memory and adds them once per
    // block (few same-address atomics).
    __shared__ unsigned s_cnt[4][32];
    __shared__ double s_w[32];
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        c_used += __shfl_down_sync(0xffffffffu, c_used, off);
        c_flag += __shfl_down_sync(0xffffffffu, c_flag, off);
        c_inv += __shfl_down_sync(0xffffffffu, c_inv, off);
        c_out += __shfl_down_sync(0xffffffffu, c_out, off);
        wsum += __shfl_down_sync(0xffffffffu, wsum, off);
    }
    if (lane == 0) {
        s_cnt[0][warp] = c_used;
        s_cnt[1][warp] = c_flag;
        s_cnt[2][warp] = c_inv;
        s_cnt[3][warp] = c_out;
        s_w[warp] = wsum;
    }
    __syncthreads();
    if (warp == 0) {
        const unsigned nw = blockDim.x >> 5;
        c_used = lane < nw ? s_cnt[0][lane] : 0u;
        c_flag = lane < nw ? s_cnt[1][lane] : 0u;
        c_inv = lane < nw ? s_cnt[2][lane] : 0u;
        c_out = lane < nw ? s_cnt[3][lane] : 0u;
        wsum = lane < nw ? s_w[lane] : 0.0;
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
            c_used += __shfl_down_sync(0xffffffffu, c_used, off);
            c_flag += __shfl_down_sync(0xffffffffu, c_flag, off);
            c_inv += __shfl_down_sync(0xffffffffu, c_inv, off);
            c_out += __shfl_down_sync(0xffffffffu, c_out, off);
            wsum += __shfl_down_sync(0xffffffffu, wsum, off);
        }
        if (lane == 0) {
            if (c_used) atomicAdd(&tallies[0], (unsigned long long)c_used);
            if (c_flag) atomicAdd(&tallies[1], (unsigned long long)c_flag);
            if (c_inv) atomicAdd(&tallies[2], (unsigned long long)c_inv);
            if (c_out) atomicAdd(&tallies[3], (unsigned long long)c_out);
            if (c_used) atomicAdd(sumw, wsum);
        }
    }
}

// Moves record i to its tile's bucket: cursor starts as the tile offsets.
extern "C" __global__ void scatter(const unsigned* __restrict__ key,
                                   const unsigned* __restrict__ duv,
                                   const rec4* __restrict__ vals, unsigned n,
                                   unsigned* __restrict__ cursor,
                                   unsigned* __restrict__ sduv, rec4* __restrict__ svals) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n && key[i] < NTILES) {
        unsigned p = atomicAdd(&cursor[key[i]], 1u);
        sduv[p] = duv[i];
        svals[p] = vals[i];
    }
}

// nsub[t] = number of subproblems of tile t (ceil(count / MAXSUB)).
extern "C" __global__ void count_subproblems(const unsigned* __restrict__ count,
                                             unsigned ntiles, unsigned* __restrict__ nsub) {
    unsigned t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t < ntiles) nsub[t] = (count[t] + MAXSUB - 1) / MAXSUB;
}

// Lists the subproblems: tile and first record of each.
extern "C" __global__ void fill_subproblems(const unsigned* __restrict__ suboff,
                                            const unsigned* __restrict__ offsets,
                                            unsigned ntiles, unsigned* __restrict__ sub_tile,
                                            unsigned* __restrict__ sub_start) {
    unsigned t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t < ntiles) {
        unsigned s0 = suboff[t], s1 = suboff[t + 1];
        for (unsigned k = s0; k < s1; k++) {
            sub_tile[k] = t;
            sub_start[k] = offsets[t] + (k - s0) * MAXSUB;
        }
    }
}

// The global grid gets a tile's shared-memory buffer (planar re | im, BW x BW) once, wrapped
// modulo the grid size; zero cells are skipped.
__device__ __forceinline__ void flush_tile(const real* sre, const real* sim, unsigned tile,
                                           real* __restrict__ grid) {
    unsigned u0 = (tile % NTU) * TILE, v0 = (tile / NTU) * TILE;
    for (unsigned i = threadIdx.x; i < BW * BW; i += blockDim.x) {
        real a = sre[i], b = sim[i];
        if (a != real(0) || b != real(0)) {
            unsigned u = (u0 + i % BW) % NU, w = (v0 + i / BW) % NV;
            unsigned long long c = 2ull * ((unsigned long long)w * NU + u);
            atomicAdd(&grid[c], a);
            atomicAdd(&grid[c + 1], b);
        }
    }
}

// A spreading block's subproblem: its tile and record range [start, end), and the tile's
// shared-memory buffer zeroed (the caller synchronises before adding to it).
__device__ __forceinline__ void begin_subproblem(const unsigned* __restrict__ sub_tile,
                                                 const unsigned* __restrict__ sub_start,
                                                 const unsigned* __restrict__ offsets,
                                                 real* sre, real* sim, unsigned* tile,
                                                 unsigned* start, unsigned* end) {
    *tile = sub_tile[blockIdx.x];
    *start = sub_start[blockIdx.x];
    *end = min(*start + MAXSUB, offsets[*tile + 1]);
    for (unsigned i = threadIdx.x; i < BW * BW; i += blockDim.x) {
        sre[i] = real(0);
        sim[i] = real(0);
    }
}

// One thread block per subproblem, one thread per record ("thread" method): each thread
// evaluates the W kernel values per axis by Horner's rule in x = 2s - 1 (the CPU path's
// polynomial) and adds its record's W x W footprint into the tile's shared-memory buffer
// (planar re | im, BW x BW) with shared atomics; the buffer is then added to the global grid
// once. Kept beside spread_warp for comparison (RIMAGER_GPU_SPREAD=thread).
extern "C" __global__ void spread_thread(const unsigned* __restrict__ sub_tile,
                                         const unsigned* __restrict__ sub_start,
                                         const unsigned* __restrict__ offsets,
                                         const unsigned* __restrict__ duv,
                                         const rec4* __restrict__ vals,
                                         const unsigned* __restrict__ suboff, unsigned ntiles,
                                         real* __restrict__ grid) {
    // Launched with an upper bound on the subproblem count (no host round trip): blocks past
    // the real count, suboff[ntiles], leave at once (the whole block, before any barrier).
    if (blockIdx.x >= suboff[ntiles]) return;
    extern __shared__ unsigned char smem_raw[];
    real* sre = reinterpret_cast<real*>(smem_raw);
    real* sim = sre + BW * BW;
    unsigned tile, start, end;
    begin_subproblem(sub_tile, sub_start, offsets, sre, sim, &tile, &start, &end);
    __syncthreads();
    for (unsigned r = start + threadIdx.x; r < end; r += blockDim.x) {
        unsigned d = duv[r];
        unsigned du = d & 0xffffu, dv = d >> 16;
        rec4 v = vals[r];
        real xu = real(2) * v.su - real(1);
        real xv = real(2) * v.sv - real(1);
        real ku[W], kv[W];
#pragma unroll
        for (int k = 0; k < W; k++) {
            ku[k] = coef[k];
            kv[k] = coef[k];
        }
#pragma unroll
        for (int p = 1; p <= DEG; p++) {
#pragma unroll
            for (int k = 0; k < W; k++) {
                ku[k] = fma(ku[k], xu, coef[p * W + k]);
                kv[k] = fma(kv[k], xv, coef[p * W + k]);
            }
        }
#pragma unroll
        for (int j = 0; j < W; j++) {
            real fr = kv[j] * v.re, fi = kv[j] * v.im;
            unsigned base = (dv + j) * BW + du;
#pragma unroll
            for (int k = 0; k < W; k++) {
                atomicAdd(&sre[base + k], fr * ku[k]);
                atomicAdd(&sim[base + k], fi * ku[k]);
            }
        }
    }
    __syncthreads();
    flush_tile(sre, sim, tile, grid);
}

// Records a warp spreads at once in spread_warp: W lanes per record.
#define RPW (32 / W)

// One thread block per subproblem, W lanes of a warp per record ("warp" method, the default):
// lane k of a record's group evaluates the kernel at column k (u) and row k (v) only, one
// Horner recurrence each instead of W; the row values reach the group by warp shuffles, and
// for each footprint row j the group adds W consecutive cells (distinct shared-memory banks)
// rather than each thread walking its own record's footprint, whose cells fall on random
// banks across the warp. RPW = floor(32 / W) records per warp step; the other 32 - RPW * W
// lanes idle.
extern "C" __global__ void spread_warp(const unsigned* __restrict__ sub_tile,
                                       const unsigned* __restrict__ sub_start,
                                       const unsigned* __restrict__ offsets,
                                       const unsigned* __restrict__ duv,
                                       const rec4* __restrict__ vals,
                                       const unsigned* __restrict__ suboff, unsigned ntiles,
                                       real* __restrict__ grid) {
    if (blockIdx.x >= suboff[ntiles]) return;
    extern __shared__ unsigned char smem_raw[];
    real* sre = reinterpret_cast<real*>(smem_raw);
    real* sim = sre + BW * BW;
    unsigned tile, start, end;
    begin_subproblem(sub_tile, sub_start, offsets, sre, sim, &tile, &start, &end);
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const unsigned q = lane / W;          // record slot of this lane
    const unsigned k = lane - q * W;      // its column (and row) in the footprint
    const bool slot_lane = q < RPW;
    // This lane's column of the coefficient table, in registers (read once per block).
    real c[DEG + 1];
#pragma unroll
    for (int p = 0; p <= DEG; p++) c[p] = coef[p * W + (slot_lane ? k : 0)];
    __syncthreads();
    for (unsigned base = start + warp * RPW; base < end; base += nwarps * RPW) {
        // base is the same in the whole warp: every lane reaches the shuffles below.
        unsigned r = base + q;
        bool has = slot_lane && r < end;
        unsigned du = 0, dv = 0;
        real xu = real(-1), xv = real(-1), re = real(0), im = real(0);
        if (has) {
            unsigned d = duv[r];
            du = d & 0xffffu;
            dv = d >> 16;
            rec4 v = vals[r];
            xu = real(2) * v.su - real(1);
            xv = real(2) * v.sv - real(1);
            re = v.re;
            im = v.im;
        }
        real ku = c[0], kv = c[0];
#pragma unroll
        for (int p = 1; p <= DEG; p++) {
            ku = fma(ku, xu, c[p]);
            kv = fma(kv, xv, c[p]);
        }
        const real ar = ku * re, ai = ku * im;
        const unsigned col = du + k;
#pragma unroll
        for (int j = 0; j < W; j++) {
            real kvj = __shfl_sync(0xffffffffu, kv, (q * W + j) & 31u);
            if (has) {
                unsigned a = (dv + j) * BW + col;
                atomicAdd(&sre[a], ar * kvj);
                atomicAdd(&sim[a], ai * kvj);
            }
        }
    }
    __syncthreads();
    flush_tile(sre, sim, tile, grid);
}

// Crop, centring sign, grid correction and scale after the backward FFT:
// img[y][x] = Re(G[py mod NV][px mod NU]) (-1)^(px+py) cx[x] cy[y] scale,
// px = x - NX/2, py = y - NY/2.
extern "C" __global__ void crop_correct(const real* __restrict__ grid,
                                        const double* __restrict__ cx,
                                        const double* __restrict__ cy, double scale,
                                        double* __restrict__ img) {
    unsigned x = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned y = blockIdx.y;
    if (x >= NX || y >= NY) return;
    int px = (int)x - NX / 2, py = (int)y - NY / 2;
    unsigned gu = px < 0 ? (unsigned)(px + NU) : (unsigned)px;
    unsigned gv = py < 0 ? (unsigned)(py + NV) : (unsigned)py;
    double s = ((px + py) & 1) ? -1.0 : 1.0;
    img[(unsigned long long)y * NX + x] = (double)grid[2ull * ((unsigned long long)gv * NU + gu)] * s * cx[x] * cy[y] * scale;
}

// w-stacking (Arras et al. 2021, A&A 646, A58; ducc0's wgridder): after the backward FFT of
// one w-plane's grid, adds Re[G(px, py) (-1)^(px+py) exp(-2 pi i w (n - 1 + nshift))] into
// sum[y][x], with l = -px cell, m = py cell, n - 1 = -(l^2 + m^2) / (sqrt(1 - l^2 - m^2) + 1).
// The phase screen is evaluated in double whatever REAL is.
extern "C" __global__ void w_screen_accumulate(const real* __restrict__ grid, double w_lambda,
                                               double nshift, double cell_rad,
                                               double* __restrict__ sum) {
    unsigned x = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned y = blockIdx.y;
    if (x >= NX || y >= NY) return;
    int px = (int)x - NX / 2, py = (int)y - NY / 2;
    unsigned gu = px < 0 ? (unsigned)(px + NU) : (unsigned)px;
    unsigned gv = py < 0 ? (unsigned)(py + NV) : (unsigned)py;
    double s = ((px + py) & 1) ? -1.0 : 1.0;
    unsigned long long gi = 2ull * ((unsigned long long)gv * NU + gu);
    double re = (double)grid[gi] * s, im = (double)grid[gi + 1] * s;
    double l = -(double)px * cell_rad, m = (double)py * cell_rad;
    double r2 = l * l + m * m;
    double nm1 = -r2 / (sqrt(1.0 - r2) + 1.0) + nshift;
    double sn, cs;
    sincospi(-2.0 * w_lambda * nm1, &sn, &cs);
    sum[(unsigned long long)y * NX + x] += re * cs - im * sn;
}
