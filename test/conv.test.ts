import { suite } from 'uvu';
import { type Activation, type ConvGeometry, type Tensor, channelAffine, clip, relu, conv2d, conv2dAffine, conv2dGradInput, conv2dGradWeight, convGeometry, convSettings, convTileFor, convTuning, grad, pointwiseApplies, sharesRows, tidy, tuningKey } from '../src/autograd/index.ts';
import { type WinogradTile, gradInputTile, gradWeightTile, parseWinograd, winograd, winogradApplies } from '../src/autograd/ops/winograd.ts';
import { assertClose, dot, getGpu, gpuTensor, numericGrad, randoms } from './helpers.ts';
import { conv2dGradInputRef, conv2dRef, type ConvRef } from './reference.ts';

const test = suite('conv2d');

// [x shape, w shape, options]: stride, padding, dilation, odd and non-square sizes, batch > 1, 3 channels.
// The last entry of the Winograd cases: their tile, for every pass (with no minimum of tiles).
const cases: [number[], number[], ConvRef, WinogradTile?][] = [
  [[1, 3, 9, 9], [8, 3, 3, 3], { padding: [1, 1] }],
  [[2, 5, 7, 11], [6, 5, 3, 2], { stride: [2, 1], padding: [1, 0] }],
  [[2, 4, 10, 9], [12, 4, 3, 3], { stride: [2, 2], padding: [1, 1], dilation: [2, 1] }],
  [[1, 3, 13, 13], [16, 3, 7, 7], { stride: [2, 2], padding: [3, 3] }],
  [[3, 8, 6, 6], [4, 8, 1, 1], { stride: [2, 2] }],
  [[1, 6, 5, 7], [5, 6, 3, 3], { stride: [3, 2], padding: [2, 1] }],
  // 3x3 stride 1 with >= 16 channels each way: Winograd F(2x2, 3x3), forward and input gradient
  // (odd sizes leave partial tiles; padding 0 and 2 give the input gradient padding 2 and 0).
  [[2, 16, 5, 7], [18, 16, 3, 3], { padding: [1, 1] }, 2],
  [[1, 17, 6, 5], [16, 17, 3, 3], {}, 4],
  [[1, 16, 5, 6], [16, 16, 3, 3], { padding: [2, 1] }, 2],
  // 32 or more channels each way: the GEMMs take 32-row tiles where subgroups share the rows (lavapipe).
  [[1, 33, 5, 6], [34, 33, 3, 3], { padding: [1, 1] }, 4],
];

for (const [xs, ws, o, tile] of cases) {
  const name = `x[${xs}] w[${ws}] s${o.stride ?? [1, 1]} p${o.padding ?? [0, 0]} d${o.dilation ?? [1, 1]}${tile ? ` Winograd F(${tile}x${tile})` : ''}`;
  test(`forward and both gradients match float64 references: ${name}`, () => withWinograd(tile ?? 0, () => tidy(async () => {
    const xv = randoms(xs.reduce((a, b) => a * b), 1), wv = randoms(ws.reduce((a, b) => a * b), 2), bv = randoms(ws[0], 3);
    const x = await gpuTensor(xv, xs, true), w = await gpuTensor(wv, ws, true), b = await gpuTensor(bv, [ws[0]], true);
    const y = conv2d(x, w, b, o);
    const ref = conv2dRef(xv, xs, wv, ws, bv, o);
    if (y.shape.join() !== ref.shape.join()) throw new Error(`shape [${y.shape}] vs [${ref.shape}]`);
    assertClose(await y.data(), ref.y, 1e-5, 'forward');

    const r = randoms(ref.y.length, 4);
    const gout = await gpuTensor(r, ref.shape);
    const [gx, gw, gb] = grad(y, [x, w, b], gout);
    const loss = (xx: Float64Array, ww: Float64Array, bb: Float64Array) => dot(r, conv2dRef(xx, xs, ww, ws, bb, o).y);
    assertClose(await gx.data(), numericGrad((v) => loss(v, wv, bv), xv), 1e-4, 'grad input');
    assertClose(await gw.data(), numericGrad((v) => loss(xv, v, bv), wv), 1e-4, 'grad weight');
    assertClose(await gb.data(), numericGrad((v) => loss(xv, wv, v), bv), 1e-4, 'grad bias');
  })));
}

/** Runs f with every pass on the direct (or tiled) kernels: no Winograd. */
async function withDirectGradients<T>(f: () => Promise<T>): Promise<T> {
  const defaults = { ...winograd };
  Object.assign(winograd, { forwardTile: 0, gradInputTile: 0, gradWeightTile: 0 });
  try {
    return await f();
  } finally {
    Object.assign(winograd, defaults);
  }
}

/** Runs f with every pass at Winograd tile `tile` (0: the engine's settings) and no minimum of tiles. */
async function withWinograd<T>(tile: WinogradTile, f: () => Promise<T>): Promise<T> {
  const defaults = { ...winograd };
  if (tile) Object.assign(winograd, { forwardTile: tile, gradInputTile: tile, gradWeightTile: tile, minTiles: { 2: 0, 4: 0 } });
  try {
    return await f();
  } finally {
    Object.assign(winograd, defaults);
  }
}

test('gradients take the largest Winograd tile whose output tiles fill the lanes, else the direct kernels', () => {
  const at = (N: number, C: number, H: number) => convGeometry([N, C, H, H], [C, C, 3, 3], { padding: 1 });
  const tiles = (g: ConvGeometry) => [gradInputTile(g), gradWeightTile(g)].join();
  const want: [ConvGeometry, string][] = [[at(16, 64, 56), '4,2'], [at(1, 512, 7), '0,0'], [at(4, 512, 7), '2,2'], [at(4, 256, 14), '4,2'], [at(1, 8, 56), '0,0']];
  for (const [g, w] of want) if (tiles(g) !== w) throw new Error(`N${g.N} C${g.C} ${g.H}x${g.W}: tiles ${tiles(g)}, expected ${w}`);
});

test('Winograd settings from text: off, one tile for every pass, or three; anything else is refused', () => {
  const show = (t: string) => Object.values(parseWinograd(t)).join();
  for (const [t, want] of [['off', '0,0,0'], ['4', '4,4,4'], ['0,4,2', '0,4,2'], [' 2, 2 ,0', '2,2,0']]) {
    if (show(t) !== want) throw new Error(`'${t}' read as ${show(t)}`);
  }
  for (const t of ['3', '2,4', '0,4,2,2', 'on', '']) {
    let msg = '';
    try { parseWinograd(t); } catch (e) { msg = (e as Error).message; }
    if (!msg.includes('expected off, one tile')) throw new Error(`'${t}': ${msg || 'accepted'}`);
  }
});

test('Winograd F(2x2) and F(4x4) against float64 and the direct kernels, forward and both gradients', () => tidy(async () => {
  const xs = [2, 16, 5, 7], ws = [18, 16, 3, 3], o: ConvRef = { padding: [1, 1] };
  const g = convGeometry(xs, ws, { padding: 1 });
  if (!winogradApplies(g, 16, 18, 2) || winogradApplies(g, 16, 18, 0) || winogradApplies(convGeometry(xs, ws, { dilation: 2 }), 16, 18, 2)) {
    throw new Error('winogradApplies: wrong answer');
  }
  const xv = randoms(2 * 16 * 35, 5), wv = randoms(18 * 16 * 9, 6), r = randoms(2 * 18 * 35, 7);
  const ref = conv2dRef(xv, xs, wv, ws, new Float64Array(18), o);
  const refGx = numericGrad((v) => dot(r, conv2dRef(v, xs, wv, ws, new Float64Array(18), o).y), xv);
  const refGw = numericGrad((v) => dot(r, conv2dRef(xv, xs, v, ws, new Float64Array(18), o).y), wv);
  const x = await gpuTensor(xv, xs, true), w = await gpuTensor(wv, ws), wg = await gpuTensor(wv, ws, true), gout = await gpuTensor(r, ref.shape);
  const run = async () => {
    const y = conv2d(x, w, null, { padding: 1 });
    const again = conv2d(x, w, null, { padding: 1 }); // through the cached transformed weight
    const gw = grad(conv2d(x, wg, null, { padding: 1 }), [wg], gout)[0];
    return { y: await y.data(), again: await again.data(), gx: await grad(y, [x], gout)[0].data(), gw: await gw.data() };
  };
  const defaults = { ...winograd };
  try {
    Object.assign(winograd, { forwardTile: 0, gradInputTile: 0, gradWeightTile: 0, minTiles: { 2: 0, 4: 0 } });
    const direct = await run();
    for (const tile of [2, 4] as const) {
      winograd.forwardTile = winograd.gradInputTile = winograd.gradWeightTile = tile;
      const fast = await run();
      assertClose(fast.y, ref.y, 1e-5, `F(${tile}x${tile}) forward`);
      assertClose(fast.again, fast.y, 0, `F(${tile}x${tile}) forward, cached weight`);
      assertClose(fast.gx, refGx, 1e-4, `F(${tile}x${tile}) input gradient`);
      assertClose(fast.gw, refGw, 1e-4, `F(${tile}x${tile}) weight gradient`);
      assertClose(fast.y, direct.y, 1e-5, `F(${tile}x${tile}) vs direct`);
    }
  } finally {
    Object.assign(winograd, defaults);
  }
}));

test('the tiled kernels (the default on GPUs) give the direct kernels\' bits, and float64\'s values', () => withDirectGradients(() => tidy(async () => {
  // Beyond the cases above: several 64 x 64 blocks each way, K and C not multiples of 4, a partial last
  // slab of the sum, a bias; ResNet's stem (7x7 stride 2, 3 channels); a 1x1 stride-2 downsample.
  const extra: [number[], number[], ConvRef][] = [
    [[2, 20, 9, 11], [70, 20, 3, 3], { padding: [1, 1] }], [[1, 3, 20, 20], [64, 3, 7, 7], { stride: [2, 2], padding: [3, 3] }],
    [[2, 66, 9, 9], [20, 66, 1, 1], { stride: [2, 2] }],
  ];
  for (const [xs, ws, o] of [...cases.filter((c) => !c[3]).map((c) => [c[0], c[1], c[2]] as const), ...extra]) {
    const xv = randoms(xs.reduce((a, b) => a * b), 8), wv = randoms(ws.reduce((a, b) => a * b), 9), bv = randoms(ws[0], 10);
    const x = await gpuTensor(xv, [...xs]), w = await gpuTensor(wv, [...ws]), b = await gpuTensor(bv, [ws[0]]);
    const ref = conv2dRef(xv, [...xs], wv, [...ws], bv, o);
    const gv = randoms(ref.y.length, 11), gy = await gpuTensor(gv, ref.shape);
    const g = convGeometry([...xs], [...ws], o);
    const run = async (kernel: 'direct' | 'tiled') => {
      Object.assign(convSettings, { forward: kernel, gradInput: kernel });
      try {
        return [await conv2d(x, w, b, o).data(), await conv2dGradInput(gy, w, g).data()];
      } finally {
        Object.assign(convSettings, { forward: 'auto', gradInput: 'auto' });
      }
    };
    const [direct, tiled] = [await run('direct'), await run('tiled')];
    const name = `x[${xs}] w[${ws}]`;
    for (const [p, what] of ['forward', 'input gradient'].entries()) {
      for (let i = 0; i < direct[p].length; i++) if (direct[p][i] !== tiled[p][i]) throw new Error(`${name} ${what}: element ${i} differs: ${direct[p][i]} vs ${tiled[p][i]}`);
    }
    assertClose(tiled[0], ref.y, 1e-5, `${name} tiled forward`);
    // Finite differences where they are cheap; elsewhere the bits above tie it to the direct kernel, checked against them in the cases above.
    if (xv.length <= 1000) {
      const loss = (xx: Float64Array) => dot(gv, conv2dRef(xx, [...xs], wv, [...ws], bv, o).y);
      assertClose(tiled[1], numericGrad(loss, xv), 1e-4, `${name} tiled input gradient`);
    }
  }
})));

test('tile rows shared by subgroup broadcast (lavapipe) give the bits of per-lane loads: every pass, Winograd\'s GEMMs', async () => {
  const ctx = await getGpu();
  if (!ctx.cpuAdapter) return; // GPUs keep per-lane loads ('auto'); this checks the CPU adapters' path
  // Tiles of 4 rows (3 input channels: the stem's input gradient) and 16 (the rest); partial tiles, K and C not multiples of 4.
  const direct: [number[], number[], ConvRef][] = [
    [[2, 20, 9, 11], [70, 20, 3, 3], { padding: [1, 1] }], [[1, 3, 20, 20], [64, 3, 7, 7], { stride: [2, 2], padding: [3, 3] }],
    [[2, 66, 9, 9], [20, 66, 1, 1], { stride: [2, 2] }], [[2, 5, 7, 11], [6, 5, 3, 2], { stride: [2, 1], padding: [1, 0] }],
  ];
  const wino: [number[], number[], ConvRef][] = [[[2, 18, 9, 11], [20, 18, 3, 3], { padding: [1, 1] }]];
  const shared = await withDirectGradients(() => sameBits(direct));
  if (ctx.subgroupMinSize >= 4 && shared < 3 * direct.length) throw new Error(`only ${shared} of ${3 * direct.length} passes shared their rows (subgroups of ${ctx.subgroupMinSize})`);
  for (const t of [2, 4] as const) await withWinograd(t, () => sameBits(wino));
});

/** Runs each case's three passes with subgroups 'auto' and 'off', demands the same bits; returns how many direct passes shared rows. */
async function sameBits(cases: [number[], number[], ConvRef][]): Promise<number> {
  const ctx = await getGpu();
  let shared = 0;
  await tidy(async () => {
    for (const [xs, ws, o] of cases) {
      const x = await gpuTensor(randoms(xs.reduce((a, b) => a * b), 12), xs), w = await gpuTensor(randoms(ws.reduce((a, b) => a * b), 13), ws);
      const g = convGeometry(xs, ws, o);
      const gy = await gpuTensor(randoms(g.N * g.K * g.OH * g.OW, 14), [g.N, g.K, g.OH, g.OW]);
      const passes = ['forward', 'grad_input', 'grad_weight'] as const;
      // Both runs on the tiles the shared rows take (per-lane loads default to shorter tiles, and a
      // weight gradient's tile sets how its sum splits).
      const tiles = passes.map((p) => [tuningKey(p, g), convTileFor(ctx, p, g)] as const);
      shared += tiles.filter(([, t]) => sharesRows(ctx, t.TM)).length;
      const run = async (subgroups: 'auto' | 'off') => {
        convSettings.subgroups = subgroups;
        for (const [key, tile] of tiles) convTuning(ctx).set(key, tile);
        try {
          return [await conv2d(x, w, null, o).data(), await conv2dGradInput(gy, w, g).data(), await conv2dGradWeight(gy, x, g).data()];
        } finally {
          convSettings.subgroups = 'auto';
          for (const [key] of tiles) convTuning(ctx).delete(key);
        }
      };
      const [on, off] = [await run('auto'), await run('off')];
      for (const [i, pass] of passes.entries()) {
        for (let j = 0; j < on[i].length; j++) if (on[i][j] !== off[i][j]) throw new Error(`x[${xs}] w[${ws}] ${pass}: element ${j} differs: ${on[i][j]} vs ${off[i][j]}`);
      }
    }
  });
  return shared;
}

test('1x1 stride-1 convolutions take vec4 position loads (POINTWISE) with the general kernel\'s bits, forward and input gradient', async () => {
  const ctx = await getGpu();
  // Channels not multiples of 4 (padded weight rows), a batch, positions not a multiple of the workgroup's.
  const shapes: [number[], number[]][] = [[[2, 5, 4, 6], [7, 5, 1, 1]], [[3, 33, 6, 6], [40, 33, 1, 1]]];
  await tidy(async () => {
    for (const [xs, ws] of shapes) {
      const xv = randoms(xs.reduce((a, b) => a * b), 15), wv = randoms(ws.reduce((a, b) => a * b), 16);
      const x = await gpuTensor(xv, xs), w = await gpuTensor(wv, ws);
      const g = convGeometry(xs, ws, {}), ref = conv2dRef(xv, xs, wv, ws, null, {});
      const gv = randoms(ref.y.length, 17), gy = await gpuTensor(gv, ref.shape);
      const name = `x[${xs}] w[${ws}]`;
      for (const TM of [16, 32]) {
        const tiles = (['forward', 'grad_input'] as const).map((p) => [tuningKey(p, g), { TM, TN: 4, WG: 8 }] as const);
        if (!tiles.every(([, t]) => pointwiseApplies(g, t))) throw new Error(`${name}: the 1x1 form does not apply`);
        const run = async (pointwise: 'auto' | 'off', subgroups: 'auto' | 'off' = 'auto') => {
          Object.assign(convSettings, { pointwise, subgroups });
          for (const [key, tile] of tiles) convTuning(ctx).set(key, tile);
          try {
            return await withDirectGradients(async () => [await conv2d(x, w, null, {}).data(), await conv2dGradInput(gy, w, g).data()]);
          } finally {
            Object.assign(convSettings, { pointwise: 'auto', subgroups: 'auto' });
            for (const [key] of tiles) convTuning(ctx).delete(key);
          }
        };
        // The 1x1 form with rows shared by subgroups (CPU adapters) and loaded per lane, against the general kernel.
        const [on, onPerLane, off] = [await run('auto'), await run('auto', 'off'), await run('off')];
        for (const [i, pass] of ['forward', 'input gradient'].entries()) {
          for (let j = 0; j < on[i].length; j++) {
            if (on[i][j] !== off[i][j]) throw new Error(`${name} TM ${TM} ${pass}: element ${j} differs: ${on[i][j]} vs ${off[i][j]}`);
            if (onPerLane[i][j] !== off[i][j]) throw new Error(`${name} TM ${TM} ${pass}, rows loaded per lane: element ${j} differs: ${onPerLane[i][j]} vs ${off[i][j]}`);
          }
        }
        assertClose(on[0], ref.y, 1e-5, `${name} forward`);
        assertClose(on[1], conv2dGradInputRef(gv, wv, ws, xs, {}), 1e-5, `${name} input gradient`);
      }
    }
  });
});

test('conv2dAffine (a BatchNorm, residual and ReLU or Clip in the convolution\'s epilogue) gives the bits of conv2d, channelAffine and clip apart, forward and gradients', async () => {
  // A 3x3 with a bias, a strided one, a 1x1 stride-1 one (the vec4 form), a Winograd-forward one (its epilogue by the channel kernel).
  const shapes: [number[], number[], ConvRef, boolean, WinogradTile][] = [
    [[2, 5, 7, 6], [6, 5, 3, 3], { padding: [1, 1] }, true, 0], [[1, 4, 9, 9], [8, 4, 3, 3], { stride: [2, 2], padding: [1, 1] }, false, 0],
    [[2, 33, 4, 6], [40, 33, 1, 1], {}, false, 0], [[1, 16, 6, 6], [16, 16, 3, 3], { padding: [1, 1] }, false, 2],
  ];
  const CLIP: Activation = { clip: [-0.5, 0.75] }; // both bounds reached by these values
  const modes: [Activation, boolean][] = [[null, false], ['relu', false], [null, true], ['relu', true], [CLIP, false], [CLIP, true]]; // [activation, residual]
  for (const [xs, ws, o, withBias, tile] of shapes) {
    for (const kernel of ['direct', 'tiled'] as const) {
      await withWinograd(tile, () => tidy(async () => {
        Object.assign(convSettings, { forward: kernel, gradInput: kernel });
        try {
          const K = ws[0], x = await gpuTensor(randoms(xs.reduce((a, b) => a * b), 21), xs, true), w = await gpuTensor(randoms(ws.reduce((a, b) => a * b), 22), ws, true);
          const b = withBias ? await gpuTensor(randoms(K, 23), [K], true) : null;
          const scale = await gpuTensor(randoms(K, 24).map((v) => 1 + v / 2), [K]), shift = await gpuTensor(randoms(K, 25), [K]);
          const g = convGeometry(xs, ws, o), shape = [g.N, K, g.OH, g.OW];
          const r = await gpuTensor(randoms(shape.reduce((a, c) => a * c), 26), shape, true);
          const gy = await gpuTensor(randoms(shape.reduce((a, c) => a * c), 27), shape);
          for (const [activation, residual] of modes) {
            const name = `x[${xs}] w[${ws}] ${kernel}${tile ? ` F(${tile}x${tile})` : ''} activation ${JSON.stringify(activation)} residual ${residual}`;
            const inputs = [x, w, ...(b ? [b] : []), ...(residual ? [r] : [])];
            const fused = conv2dAffine(x, w, b, o, scale, shift, { activation, residual: residual ? r : null });
            const affine = channelAffine(conv2d(x, w, b, o), scale, shift, activation === CLIP ? null : activation, residual ? r : null);
            const apart = activation === CLIP ? clip(affine, -0.5, 0.75) : affine;
            const [fg, ag] = [grad(fused, inputs, gy), grad(apart, inputs, gy)];
            const pairs: [string, Tensor, Tensor][] = [['forward', fused, apart], ...inputs.map((_, i): [string, Tensor, Tensor] => [`gradient ${i}`, fg[i], ag[i]])];
            for (const [what, u, v] of pairs) {
              const [du, dv] = [await u.data(), await v.data()];
              const at = du.findIndex((e, i) => e !== dv[i]);
              if (at >= 0) throw new Error(`${name} ${what}: element ${at} differs: ${du[at]} vs ${dv[at]}`);
            }
            // Not the identity: the epilogue's arithmetic shows in the values.
            if ((await fused.data()).every((e, i) => e === 0)) throw new Error(`${name}: all zero`);
          }
        } finally {
          Object.assign(convSettings, { forward: 'auto', gradInput: 'auto' });
        }
      }));
    }
  }
});

test('a convolution after a convolution with BatchNorm and an activation applies their backward as it stores its input gradient: the bits of the ops apart, every input-gradient kernel', async () => {
  // The first layer's BatchNorm + activation backward moves into the second layer's input-gradient
  // kernel (src/autograd/grad.ts): a 3x3 through the direct, tiled and both Winograd kernels, a
  // stride-2 3x3, and a 1x1 (the vec4 pointwise kernel).
  const ctx = await getGpu();
  const [N, C, K, H, W] = [2, 5, 16, 8, 12]; // 16 channels: Winograd's least
  const second: [number[], { stride?: number; padding?: number }][] = [[[17, K, 3, 3], { padding: 1 }], [[17, K, 3, 3], { stride: 2, padding: 1 }], [[17, K, 1, 1], {}]];
  const paths: [string, () => () => void][] = [
    ['direct', () => { const d = { ...winograd }; Object.assign(winograd, { gradInputTile: 0 }); return () => Object.assign(winograd, d); }],
    ['tiled', () => { const d = { ...winograd }; Object.assign(winograd, { gradInputTile: 0 }); convSettings.gradInput = 'tiled'; return () => { Object.assign(winograd, d); convSettings.gradInput = 'auto'; }; }],
    ...([2, 4] as const).map((t): [string, () => () => void] => [`Winograd F(${t}x${t})`, () => { const d = { ...winograd }; Object.assign(winograd, { gradInputTile: t, minTiles: { 2: 0, 4: 0 } }); return () => Object.assign(winograd, d); }]),
  ];
  const CLIP = { clip: [-0.2, 0.3] as [number, number] };
  const acts: Activation[] = [CLIP, 'relu', null];
  await tidy(async () => {
    const x = await gpuTensor(randoms(N * C * H * W, 81), [N, C, H, W], true), w1 = await gpuTensor(randoms(K * C * 9, 82), [K, C, 3, 3]);
    const scale = await gpuTensor(randoms(K, 83).map((v) => 1 + v), [K]), shift = await gpuTensor(randoms(K, 84), [K]);
    for (const [ws, o] of second) {
      const w2 = await gpuTensor(randoms(ws.reduce((a, b) => a * b), 85), ws);
      for (const [path, set] of paths) {
        if ((path !== 'direct' && ws[2] === 1) || (path.startsWith('Winograd') && o.stride)) continue;
        for (const [i, act] of acts.entries()) {
          const reset = set();
          const g2 = convGeometry([N, K, H, W], ws, o), key = tuningKey('grad_input', g2);
          if (ws[2] === 1) convTuning(ctx).set(key, { TM: 16, TN: 4, WG: 8 });
          try {
            const wino = path.startsWith('Winograd'), tile = convTileFor(ctx, 'grad_input', g2);
            if (wino !== !!gradInputTile(g2) || (ws[2] === 1) !== pointwiseApplies(g2, tile)) throw new Error(`w [${ws}] ${JSON.stringify(o)} ${path}: not the kernel meant`);
            const fused = conv2d(conv2dAffine(x, w1, null, { padding: 1 }, scale, shift, { activation: act }), w2, null, o);
            const mid = channelAffine(conv2d(x, w1, null, { padding: 1 }), scale, shift);
            const apart = conv2d(act === null ? mid : act === 'relu' ? relu(mid) : clip(mid, CLIP.clip[0], CLIP.clip[1]), w2, null, o);
            const gy = await gpuTensor(randoms(fused.size, 86 + i), [...fused.shape]);
            const [a, b] = [await grad(fused, [x], gy)[0].data(), await grad(apart, [x], gy)[0].data()];
            const at = a.findIndex((v, j) => v !== b[j]);
            if (at >= 0) throw new Error(`w [${ws}] ${JSON.stringify(o)}, ${path}, ${JSON.stringify(act)}: element ${at} differs: ${a[at]} vs ${b[at]}`);
            if (!a.some((v) => v !== 0)) throw new Error(`${path}: the input gradient is all zeros`);
          } finally {
            reset();
            convTuning(ctx).delete(key);
          }
        }
      }
    }
  });
});

test('the f16 path (convSettings.precision): forward and input gradient within f16\'s rounding bound, direct and tiled', () => withDirectGradients(async () => {
  const ctx = await getGpu();
  const x0 = await gpuTensor(randoms(16, 1), [1, 1, 4, 4]), w0 = await gpuTensor(randoms(9, 2), [1, 1, 3, 3]);
  const attempt = (forward: string) => {
    convSettings.precision.forward = forward as 'f16';
    try { tidy(() => { conv2d(x0, w0); }); return ''; } catch (e) { return (e as Error).message; } finally { convSettings.precision.forward = 'f32'; }
  };
  if (!attempt('fp16').includes("'f32' or 'f16'")) throw new Error(`precision 'fp16' gave: ${attempt('fp16') || 'no error'}`);
  if (!ctx.shaderF16) {
    if (!attempt('f16').includes('shader-f16')) throw new Error(`f16 without shader-f16 gave: ${attempt('f16') || 'no error'}`);
    return; // the adapter cannot run the path; the error above is what users get
  }
  // Each output sums n products in f16 (unit roundoff u = 2^-11) from operands rounded to f16: at most
  // (n + 2) u times the sum of the terms' magnitudes (Higham's bound, one rounding per fma), plus f16's
  // subnormal spacing per step. f32 would land about 2^13 times closer, so the largest error must
  // also exceed u / 64 of its bound's scale: the f16 kernels ran.
  const u = 2 ** -11;
  const check = (got: ArrayLike<number>, want: Float64Array, scale: Float64Array, n: number, what: string) => {
    let worst = 0;
    for (let i = 0; i < want.length; i++) {
      const err = Math.abs(got[i] - want[i]);
      if (err > (n + 2) * u * scale[i] * 1.01 + n * 2 ** -24) throw new Error(`${what}: element ${i} is ${got[i]}, float64 gives ${want[i]}, beyond f16's bound ${((n + 2) * u * scale[i]).toExponential(2)}`);
      if (scale[i] > 0) worst = Math.max(worst, err / scale[i]);
    }
    if (worst < u / 64) throw new Error(`${what}: largest relative error ${worst.toExponential(2)}: f32's, not f16's`);
  };
  const shapes: [number[], number[], ConvRef][] = [
    [[2, 20, 9, 11], [70, 20, 3, 3], { padding: [1, 1] }], [[1, 3, 20, 20], [64, 3, 7, 7], { stride: [2, 2], padding: [3, 3] }],
    [[2, 66, 9, 9], [36, 66, 1, 1], { stride: [2, 2] }], [[2, 5, 7, 11], [6, 5, 3, 2], { stride: [2, 1], padding: [1, 0] }],
    [[2, 33, 6, 6], [36, 33, 1, 1], {}], // stride 1 on 36 positions: the direct 1x1 form (POINTWISE), both passes
  ];
  await tidy(async () => {
    for (const [xs, ws, o] of shapes) {
      const xv = randoms(xs.reduce((a, b) => a * b), 15), wv = randoms(ws.reduce((a, b) => a * b), 16);
      const x = await gpuTensor(xv, xs), w = await gpuTensor(wv, ws);
      const g = convGeometry(xs, ws, o);
      if (g.KH === 1 && g.SH === 1 && ctx.cpuAdapter && !pointwiseApplies(g, convTileFor(ctx, 'forward', g))) throw new Error(`x[${xs}] w[${ws}]: the 1x1 form does not apply`);
      const gv = randoms(g.N * g.K * g.OH * g.OW, 17), gy = await gpuTensor(gv, [g.N, g.K, g.OH, g.OW]);
      const abs = (v: Float64Array) => v.map(Math.abs);
      const y = conv2dRef(xv, xs, wv, ws, null, o).y, yScale = conv2dRef(abs(xv), xs, abs(wv), ws, null, o).y;
      const gx = conv2dGradInputRef(gv, wv, ws, xs, o), gxScale = conv2dGradInputRef(abs(gv), abs(wv), ws, xs, o);
      // Terms per output: every (c, kh, kw) forward; input gradient, the (k, kh, kw) whose taps reach a pixel.
      const nForward = g.C * g.KH * g.KW, nGradInput = g.K * Math.ceil(g.KH / g.SH) * Math.ceil(g.KW / g.SW);
      for (const kernel of ['direct', 'tiled'] as const) {
        Object.assign(convSettings, { forward: kernel, gradInput: kernel, precision: { forward: 'f16', gradInput: 'f16' } });
        try {
          check(await conv2d(x, w, null, o).data(), y, yScale, nForward, `x[${xs}] w[${ws}] ${kernel} f16 forward`);
          check(await conv2dGradInput(gy, w, g).data(), gx, gxScale, nGradInput, `x[${xs}] w[${ws}] ${kernel} f16 input gradient`);
        } finally {
          Object.assign(convSettings, { forward: 'auto', gradInput: 'auto', precision: { forward: 'f32', gradInput: 'f32' } });
        }
      }
    }
  });
  x0.release(); w0.release();
}));

test('errors name the mismatch', async () => {
  const x = await gpuTensor(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
  const w = await gpuTensor(new Float32Array(4 * 2 * 3 * 3), [4, 2, 3, 3]);
  let msg = '';
  try { conv2d(x, w); } catch (e) { msg = (e as Error).message; }
  if (!msg.includes('3 channels')) throw new Error(`unexpected error: ${msg}`);
  x.release(); w.release();
});

test.run();
