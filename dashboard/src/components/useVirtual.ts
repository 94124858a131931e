import { Virtualizer, elementScroll, observeElementOffset, observeElementRect } from '@tanstack/virtual-core';
import { useLayoutEffect, useReducer, useRef, useState } from 'preact/hooks';
import type { RefObject } from 'preact';

/**
 * @tanstack/virtual-core bound to a Preact component: only the rows in view (and a few around) are rendered.
 * Measured sizes follow the row (`key`), not its place: a failure moving to the top keeps its own height.
 */
export function useVirtual(count: number, scroller: RefObject<HTMLElement>, rowHeight: number, key: (index: number) => string | number): Virtualizer<HTMLElement, HTMLElement> {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  // One key function for the virtualizer's life (a new one each render would make it rebuild every row's place);
  // it reads the newest `key`. When rows change places, the caller calls `measure()`.
  const keyRef = useRef(key);
  keyRef.current = key;
  const [virtualizer] = useState(
    () =>
      new Virtualizer<HTMLElement, HTMLElement>({
        count,
        getScrollElement: () => scroller.current,
        estimateSize: () => rowHeight,
        scrollToFn: elementScroll,
        observeElementRect,
        observeElementOffset,
        onChange: () => rerender(0),
        overscan: 12,
        getItemKey: (index) => keyRef.current(index),
      }),
  );
  virtualizer.setOptions({ ...virtualizer.options, count });
  useLayoutEffect(() => virtualizer._didMount(), [virtualizer]);
  useLayoutEffect(() => virtualizer._willUpdate());
  return virtualizer;
}
