import { Virtualizer, elementScroll, observeElementOffset, observeElementRect } from '@tanstack/virtual-core';
import { useLayoutEffect, useReducer, useState } from 'preact/hooks';
import type { RefObject } from 'preact';

/** @tanstack/virtual-core bound to a Preact component: only the rows in view (and a few around) are rendered. */
export function useVirtual(count: number, scroller: RefObject<HTMLElement>, rowHeight: number, key: (index: number) => string | number): Virtualizer<HTMLElement, HTMLElement> {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
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
      }),
  );
  // Measured sizes follow the row (its key), not its place: a failure moving to the top keeps its own height.
  virtualizer.setOptions({ ...virtualizer.options, count, getItemKey: key });
  useLayoutEffect(() => virtualizer._didMount(), [virtualizer]);
  useLayoutEffect(() => virtualizer._willUpdate());
  return virtualizer;
}
